"""The routing engine: hard constraints, task filtering, evidence, scoring, choice.

The pipeline is split in two so the evaluation harness can sweep preference weights over
one set of estimates: `estimate()` does everything that depends on the request only,
`choose()` applies the user's weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from optiroute.api_errors import OptiRouteError
from registry.models import DECLARED_METRICS, LLM, Prompt
from registry.services import inverted_log_scale
from routing.constraints import constraint_problems
from routing.estimator import estimators
from routing.models import Cohort
from routing.quality import KNN, NEIGHBOURS, PRIOR_STRENGTH, expected_cost_from, neighbour_estimate
from routing.snapshot import Prior, Snapshot

DEFAULT_OUTPUT_TOKENS = 256
NEIGHBOURS_RECORDED = 10  # the closest, kept with a decision to explain it
NEUTRAL = 0.5


class RoutingError(OptiRouteError):
    status = 422
    code = "no_model_fits"


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


@dataclass
class Request:
    text: str
    vector: np.ndarray
    tokens: int
    task_type: str
    task_confidence: float
    domain: str
    domain_confidence: float
    constraints: Constraints = field(default_factory=Constraints)
    pool: frozenset[int] | None = None  # the cohort's model pool, None for all
    dataset_ids: tuple[int, ...] | None = None  # evidence scope, None for every dataset
    output_tokens: int = DEFAULT_OUTPUT_TOKENS
    unavailable: frozenset[int] = frozenset()  # e.g. circuit breaker open
    # The neighbours' recorded (scores, costs) for some models, looked up once per search: the
    # strategy's estimate and the cost medians read the same one. Keyed by the neighbours as
    # well as the models, because one request may be searched again (the evaluation harness
    # estimates it once per strategy) and another search may return other, or fewer, neighbours.
    _neighbourhood: tuple[tuple[int, ...], tuple[int, ...], np.ndarray, np.ndarray] | None = \
        field(default=None, repr=False)

    def neighbourhood(self, snapshot: Snapshot, neighbours: list[tuple[int, float]],
                      models: list[LLM]) -> tuple[np.ndarray, np.ndarray]:
        """Scores and costs (len(neighbours), len(models)) of these models on these neighbours."""
        prompt_ids = tuple(pid for pid, _ in neighbours)
        llm_ids = tuple(m.id for m in models)
        cached = self._neighbourhood
        if cached is None or cached[0] != prompt_ids or cached[1] != llm_ids:
            scores, costs = snapshot.evidence.neighbourhood(list(prompt_ids), list(llm_ids))
            cached = self._neighbourhood = (prompt_ids, llm_ids, scores, costs)
        return cached[2], cached[3]


@dataclass
class Candidate:
    llm: LLM
    quality: float
    confidence: float
    evidence_n: int
    prior: float
    prior_source: str
    cost_usd: float
    typical_cost_usd: float
    latency_ms: float
    declared: dict[str, float]
    scores: dict[str, float] = field(default_factory=dict)
    utility: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.llm.name, "utility": round(self.utility, 4),
                "scores": {k: round(v, 4) for k, v in self.scores.items()},
                "expected_quality": round(self.quality, 4), "quality_confidence": round(self.confidence, 3),
                "evidence_n": self.evidence_n, "prior": round(self.prior, 4), "prior_source": self.prior_source,
                "expected_cost_usd": self.cost_usd, "expected_latency_ms": round(self.latency_ms, 1)}


@dataclass
class Estimates:
    candidates: list[Candidate]
    excluded: dict[str, str]
    filters: list[str]
    neighbours: list[dict[str, Any]]  # the NEIGHBOURS_RECORDED closest
    fallback_reason: str = ""
    # Meet every hard constraint but not the task filter: fallbacks of last resort.
    reserve: list[Candidate] = field(default_factory=list)


class Strategy(Protocol):
    name: str

    def quality(self, request: Request, models: list[LLM], snapshot: Snapshot,
                neighbours: list[tuple[int, float]]) -> dict[int, tuple[float, float, int]]:
        """Expected quality, confidence and evidence count per model id."""
        ...


# ------------------------------------------------------------------ stage 1: hard constraints


def _expected_cost(llm: LLM, request: Request, snapshot: Snapshot) -> float:
    by_price = llm.estimated_cost_usd(request.tokens, request.output_tokens)
    if by_price is not None:
        return by_price
    # Models known only from evaluation data: their mean recorded cost per call.
    recorded = _recorded_cost(llm, request, snapshot)
    return recorded if recorded is not None else 0.0


def _recorded_cost(llm: LLM, request: Request, snapshot: Snapshot) -> float | None:
    """The model's mean recorded cost per call in the evidence scope (None without records)."""
    key = ("recorded_cost", llm.id, request.dataset_ids)
    if key not in snapshot.memo:
        costs = [c for ds, c in snapshot.costs_by_model.get(llm.id, ())
                 if request.dataset_ids is None or ds in request.dataset_ids]
        snapshot.memo[key] = sum(costs) / len(costs) if costs else None
    return snapshot.memo[key]  # type: ignore[return-value]


def expected_latency_ms(llm: LLM, output_tokens: int) -> float:
    first_token = llm.latency_ms_p50 if llm.latency_ms_p50 is not None else 1000.0
    speed = llm.tokens_per_second or 50.0
    return first_token + 1000.0 * output_tokens / speed


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
    if c.max_cost_usd is not None and (cost := _expected_cost(llm, request, snapshot)) > c.max_cost_usd:
        return f"expected cost ${cost:.6f} > max_cost_usd {c.max_cost_usd}"
    if c.max_latency_ms is not None and expected_latency_ms(llm, request.output_tokens) > c.max_latency_ms:
        return f"expected latency {expected_latency_ms(llm, request.output_tokens):.0f} ms > max_latency_ms"
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


# ------------------------------------------------------------------ stage 2: task and domain


TASK_CAPABILITIES = {"code": "code", "math": "math", "reasoning": "reasoning", "creative_writing": "creative_writing",
                     "translation": "multilingual", "chat": "chat"}
CONFIDENT = 0.5


def task_filter(models: list[LLM], request: Request, snapshot: Snapshot) -> tuple[list[LLM], list[str]]:
    """Keep models evaluated on or built for the request's task type; never empty the pool silently."""
    notes: list[str] = []
    if request.task_confidence < CONFIDENT:
        notes.append(f"task type {request.task_type} uncertain ({request.task_confidence:.2f}): no task filter")
        return models, notes
    kept = [m for m in models if _has_task_prior(m, request, snapshot)
            or TASK_CAPABILITIES.get(request.task_type) in (m.capabilities or [])]
    if not kept:
        notes.append(f"no candidate is evaluated on or built for {request.task_type}: kept all {len(models)}")
        return models, notes
    if len(kept) < len(models):
        notes.append(f"task type {request.task_type}: kept {len(kept)} of {len(models)} models "
                     f"evaluated on or built for it")
    return kept, notes


def _has_task_prior(llm: LLM, request: Request, snapshot: Snapshot) -> bool:
    return any((llm.id, ds, request.task_type) in snapshot.priors for ds in _scopes(request))


def _scopes(request: Request) -> tuple[int | None, ...]:
    return request.dataset_ids if request.dataset_ids is not None else (None,)


# ------------------------------------------------------------------ stage 3: evidence


def _prior(llm_id: int, task_type: str, request: Request, snapshot: Snapshot) -> Prior:
    """The model's track record on this task type, else overall, in the evidence scope."""
    return snapshot.prior(llm_id, task_type, _scopes(request))


def nearest_prompts(request: Request) -> list[tuple[int, float]]:
    return Prompt.objects.nearest_train_ids(request.vector, NEIGHBOURS, request.dataset_ids)


class KnnStrategy:
    """Similarity-weighted neighbour scores, shrunk toward the model's task-level prior as far as
    the evidence shows neighbours to be informative (routing.quality.fit_shrinkage)."""

    name = "knn"

    def quality(self, request: Request, models: list[LLM], snapshot: Snapshot,
                neighbours: list[tuple[int, float]]) -> dict[int, tuple[float, float, int]]:
        scores, _ = request.neighbourhood(snapshot, neighbours, models)
        sims = np.array([sim for _, sim in neighbours], dtype=np.float32)
        priors = np.array([_prior(llm.id, request.task_type, request, snapshot).quality for llm in models],
                          dtype=np.float32)
        estimate, total = neighbour_estimate(scores, sims, priors, **KNN)
        estimator = estimators.get()
        share = estimator.shrinkage_for(request.dataset_ids) if estimator else 1.0
        quality = priors + share * (estimate - priors)
        confidence = share * total / (total + PRIOR_STRENGTH)
        counts = (~np.isnan(scores)).sum(axis=0)
        return {llm.id: (q, c, n) for llm, q, c, n in
                zip(models, quality.tolist(), confidence.tolist(), counts.tolist(), strict=True)}


class CosineStrategy:
    """The design's method: cosine similarity between the request vector and each model's embedding."""

    name = "cosine"

    def quality(self, request: Request, models: list[LLM], snapshot: Snapshot,
                neighbours: list[tuple[int, float]]) -> dict[int, tuple[float, float, int]]:
        out = {}
        for llm in models:
            prior = _prior(llm.id, request.task_type, request, snapshot)
            vectors = [snapshot.model_vectors[(llm.id, ds)] for ds in _scopes(request)
                       if (llm.id, ds) in snapshot.model_vectors]
            if not vectors:
                out[llm.id] = (prior.quality, 0.0, 0)
                continue
            cosine = float(np.dot(request.vector, np.mean(vectors, axis=0)))
            out[llm.id] = (min(1.0, max(0.0, prior.quality + cosine)), abs(cosine), 0)
        return out


class LearnedStrategy:
    """Per-model success models blended with the neighbours' record (routing.quality)."""

    name = "learned"

    def quality(self, request: Request, models: list[LLM], snapshot: Snapshot,
                neighbours: list[tuple[int, float]]) -> dict[int, tuple[float, float, int]]:
        estimator = estimators.get()
        known = estimator.predict(request.vector, snapshot.evidence, neighbours, [m.id for m in models]) \
            if estimator else {}
        out = {}
        for llm in models:
            if llm.id in known:
                out[llm.id] = known[llm.id]
            else:  # no evaluations: the model's published record
                out[llm.id] = (_prior(llm.id, request.task_type, request, snapshot).quality, 0.0, 0)
        return out


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (LearnedStrategy(), KnnStrategy(), CosineStrategy())}
# Chosen by evaluate_router on both datasets of ../shared/data (README: Evaluating the router).
DEFAULT_STRATEGY = "knn"


# ------------------------------------------------------------------ stages 4-6


def _declared(llm: LLM, snapshot: Snapshot) -> dict[str, float]:
    key = ("declared", llm.id)
    declared = snapshot.memo.get(key)
    if declared is None:
        declared = snapshot.memo[key] = {metric: NEUTRAL if getattr(llm, metric) is None else getattr(llm, metric)
                                         for metric in DECLARED_METRICS}
    return declared  # type: ignore[return-value]


def estimate(request: Request, snapshot: Snapshot, strategy: Strategy) -> Estimates:
    candidates, excluded = hard_filter(request, snapshot)
    if not candidates:
        raise RoutingError("no model meets the hard constraints", details={"excluded": excluded})
    models, filters = task_filter(candidates, request, snapshot)
    neighbours = nearest_prompts(request)
    qualities = strategy.quality(request, candidates, snapshot, neighbours)
    estimates = Estimates([], excluded, filters, [{"prompt_id": pid, "similarity": round(sim, 4)}
                                                  for pid, sim in neighbours[:NEIGHBOURS_RECORDED]])
    qualified = [m for m in models if qualities[m.id][1] > 0.0 or
                 _prior(m.id, request.task_type, request, snapshot).source != "none"]
    if not qualified:
        qualified = [m for m in candidates if m.is_generalist]
        estimates.fallback_reason = ("no candidate has evaluations or published figures for this request; "
                                     "chose among the generalist models")
        if not qualified:
            raise RoutingError("no evaluated model fits and every generalist model breaks a hard constraint",
                               details={"excluded": excluded})
    costs = _neighbour_costs(candidates, request, snapshot, neighbours)
    chosen_ids = {m.id for m in qualified}
    for llm in candidates:
        quality, confidence, count = qualities[llm.id]
        prior = _prior(llm.id, request.task_type, request, snapshot)
        candidate = Candidate(
            llm=llm, quality=quality, confidence=confidence, evidence_n=count, prior=prior.quality,
            prior_source=prior.source, cost_usd=costs[llm.id], typical_cost_usd=_typical_cost(llm, request, snapshot),
            latency_ms=expected_latency_ms(llm, request.output_tokens), declared=_declared(llm, snapshot))
        (estimates.candidates if llm.id in chosen_ids else estimates.reserve).append(candidate)
    return estimates


def _typical_cost(llm: LLM, request: Request, snapshot: Snapshot) -> float:
    """What a call usually costs: the recorded mean where evaluations exist, else the price list."""
    recorded = _recorded_cost(llm, request, snapshot)
    return recorded if recorded is not None else _expected_cost(llm, request, snapshot)


def _neighbour_costs(models: list[LLM], request: Request, snapshot: Snapshot,
                     neighbours: list[tuple[int, float]]) -> dict[int, float]:
    """Recorded costs of each model on similar prompts beat a price-list estimate."""
    _, costs = request.neighbourhood(snapshot, neighbours, models)
    listed = np.array([_expected_cost(llm, request, snapshot) for llm in models])
    medians = expected_cost_from(costs, listed)
    return {llm.id: float(medians[j]) for j, llm in enumerate(models)}


def choose(estimates: Estimates, weights: dict[str, float]) -> list[Candidate]:
    """Score every candidate with the user's weights; the best first."""
    return rank(estimates.candidates, weights)


def rank(candidates: list[Candidate], weights: dict[str, float]) -> list[Candidate]:
    if not candidates:
        return []
    # Linear in expected dollars against one reference, the priciest candidate's typical call,
    # and not clipped: (1 - w) * quality + w * cost then ranks exactly as quality - lambda * dollars
    # with lambda = w / ((1 - w) * reference), the best rule for a mean-spend budget (the
    # evaluation harness measured a log-scaled half and clipping at 0 both cost quality). A call
    # dearer than the reference (a long prompt to the priciest model) scores below 0.
    reference = max(c.typical_cost_usd for c in candidates) or 1.0
    cost = {c.llm.id: 1.0 - c.cost_usd / reference for c in candidates}
    latency = inverted_log_scale({c.llm.id: c.latency_ms for c in candidates})
    total_weight = sum(weights.values()) or 1.0
    for c in candidates:
        c.scores = {"accuracy": c.quality, "cost": cost[c.llm.id], "latency": latency[c.llm.id], **c.declared}
        c.utility = sum(weights.get(dim, 0.0) * value for dim, value in c.scores.items()) / total_weight
    # Ties go to the cheaper model.
    return sorted(candidates, key=lambda c: (-c.utility, c.cost_usd, c.llm.name))
