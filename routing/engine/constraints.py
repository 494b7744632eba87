"""Stage 1 of a decision: hard constraints, which no choice and no fallback ever breaks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optiroute.api_errors import OptiRouteError
from registry.models import LLM
from routing.engine.costs import expected_cost, expected_latency
from routing.models import Cohort
from routing.rules import constraint_problems

if TYPE_CHECKING:
    from routing.engine.request import Request
    from routing.engine.snapshot import Snapshot


class InvalidConstraints(OptiRouteError):
    code = "invalid_constraints"


@dataclass(frozen=True)
class Constraints:
    max_cost_usd: float | None = None
    max_latency_ms: float | None = None
    min_context_window: int | None = None
    allowed_models: tuple[str, ...] = ()
    denied_models: tuple[str, ...] = ()
    licenses: tuple[str, ...] = ()
    local_only: bool = False

    @classmethod
    def from_dict(cls, data: object) -> Constraints:
        """Constraints from their JSON form; an InvalidConstraints error names each bad entry."""
        problems = constraint_problems(data)
        if problems:
            raise InvalidConstraints("invalid constraints: " + "; ".join(problems), details={"constraints": problems})
        assert isinstance(data, dict)
        values: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value for key, value in data.items()}
        return cls(**values)

    @classmethod
    def of_cohort(cls, cohort: Cohort) -> Constraints:
        """The cohort's stored constraints. One stored before they were validated, and since found
        invalid, fails the cohort's calls with a message saying what to fix, not a server error."""
        try:
            return cls.from_dict(cohort.constraints or {})
        except InvalidConstraints as exc:
            raise OptiRouteError(
                f"cohort {cohort.name} has invalid constraints ({'; '.join(exc.details['constraints'])}); "
                "an administrator must correct them", status=503, code="cohort_misconfigured") from exc

    def as_dict(self) -> dict[str, Any]:
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in self.__dict__.items() if value not in (None, (), False)}

    def merged(self, stricter: Constraints) -> Constraints:
        """Both sets hold: the tighter of each limit, pools intersected, denials joined."""
        def low(a: Any, b: Any) -> Any:
            return b if a is None else a if b is None else min(a, b)

        def pool(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(x for x in a if x in b) or ("\0",) if a and b else a or b

        return Constraints(
            max_cost_usd=low(self.max_cost_usd, stricter.max_cost_usd),
            max_latency_ms=low(self.max_latency_ms, stricter.max_latency_ms),
            min_context_window=max(self.min_context_window or 0, stricter.min_context_window or 0) or None,
            allowed_models=pool(self.allowed_models, stricter.allowed_models),
            denied_models=tuple(sorted(set(self.denied_models) | set(stricter.denied_models))),
            licenses=pool(self.licenses, stricter.licenses),
            local_only=self.local_only or stricter.local_only)


def _violation(llm: LLM, request: Request, snapshot: Snapshot) -> str:
    c = request.constraints
    if c.allowed_models and llm.name not in c.allowed_models:
        return "not in allowed_models"
    if llm.name in c.denied_models:
        return "in denied_models"
    if c.licenses and llm.license not in c.licenses:
        return f"license {llm.license or 'unknown'} not in {list(c.licenses)}"
    if c.local_only and not llm.is_local:
        return "not a local model (local_only)"
    needed = max(request.tokens + request.output_tokens, c.min_context_window or 0)
    if llm.context_window is not None and llm.context_window < needed:
        return f"context window {llm.context_window} < {needed} tokens needed"
    if c.max_cost_usd is not None and (cost := expected_cost(llm, request, snapshot)) > c.max_cost_usd:
        return f"expected cost ${cost:.6f} > max_cost_usd {c.max_cost_usd}"
    if c.max_latency_ms is not None and (latency := expected_latency(llm, request.output_tokens)).ms > c.max_latency_ms:
        return f"expected latency {latency.ms:.0f} ms ({latency.source}) > max_latency_ms {c.max_latency_ms:g}"
    if llm.id in request.unavailable:
        return "temporarily unavailable (circuit open)"
    return ""


def _in_scope(llm: LLM, request: Request, snapshot: Snapshot) -> bool:
    if not llm.is_active:
        return False
    if request.dataset_ids is None:
        return True
    return any(llm.id in snapshot.dataset_models.get(ds, set()) for ds in request.dataset_ids)


def hard_filter(request: Request, snapshot: Snapshot) -> tuple[list[LLM], dict[str, str]]:
    """The models that meet every hard constraint, and why each other one in reach does not.

    Models outside the caller's pool are out of reach: never weighed, and never named to the
    caller (a registry may hold hundreds; a cohort sees its own)."""
    kept, excluded = [], {}
    pool = request.pool
    reachable = snapshot.models.values() if pool is None else [m for m in snapshot.models.values() if m.id in pool]
    for llm in reachable:
        if not _in_scope(llm, request, snapshot):
            continue
        reason = _violation(llm, request, snapshot)
        if reason:
            excluded[llm.name] = reason
        else:
            kept.append(llm)
    return kept, excluded
