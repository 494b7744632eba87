"""What a call is expected to cost and how long it takes: recorded costs where evaluations exist,
the price list otherwise; observed latency once the gateway has timed enough calls, declared
speeds before."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.db.models import Count, Max

from registry.models import LLM, ObservedLatency
from registry.templatetags.units import duration
from routing.learning.quality import expected_cost_from
from routing.versioned_cache import VersionedCache

if TYPE_CHECKING:
    from routing.engine.request import Request
    from routing.engine.snapshot import Snapshot


def expected_cost(llm: LLM, request: Request, snapshot: Snapshot) -> float:
    by_price = llm.estimated_cost_usd(request.tokens, request.output_tokens)
    if by_price is not None:
        return by_price
    # Models known only from evaluation data: their mean recorded cost per call.
    recorded = recorded_cost(llm, request, snapshot)
    return recorded if recorded is not None else 0.0


def recorded_cost(llm: LLM, request: Request, snapshot: Snapshot) -> float | None:
    """The model's mean recorded cost per call in the evidence scope (None without records)."""
    key = ("recorded_cost", llm.id, request.dataset_ids)
    if key not in snapshot.memo:
        costs = [c for ds, c in snapshot.costs_by_model.get(llm.id, ())
                 if request.dataset_ids is None or ds in request.dataset_ids]
        snapshot.memo[key] = sum(costs) / len(costs) if costs else None
    return snapshot.memo[key]  # type: ignore[return-value]


# Without a declared figure: a typical hosted model's time to first token and speed.
ASSUMED_FIRST_TOKEN_MS = 1000.0
ASSUMED_TOKENS_PER_SECOND = 50.0


@dataclass(frozen=True)
class Latency:
    ms: float
    source: str  # where the figure came from, in words: "observed p50 1.2 s over 48 calls"


def expected_latency(llm: LLM, output_tokens: int) -> Latency:
    """The observed p50 once the model has OPTIROUTE_OBSERVED_MIN_CALLS answered calls in its
    window (it measures the calls this deployment makes, network included); before, the declared
    time to first token plus the answer's tokens at the declared speed."""
    observed = observed_figures.get().get(llm.id)
    if observed is not None and observed.p50_ms is not None and observed.answered >= settings.OPTIROUTE_OBSERVED_MIN_CALLS:
        errors = f", {observed.error_rate:.0%} failed" if observed.errors else ""
        return Latency(observed.p50_ms, f"observed p50 {duration(observed.p50_ms)} over {observed.answered} calls"
                                        f"{errors}")
    first_token = llm.latency_ms_p50 if llm.latency_ms_p50 is not None else ASSUMED_FIRST_TOKEN_MS
    speed = llm.tokens_per_second or ASSUMED_TOKENS_PER_SECOND
    declared = "declared" if llm.latency_ms_p50 is not None or llm.tokens_per_second else "assumed (none declared)"
    return Latency(first_token + 1000.0 * output_tokens / speed,
                   f"{declared}: {duration(first_token)} to first token at {speed:g} tokens/s")


def _observed_version() -> tuple[object, ...]:
    found = ObservedLatency.objects.aggregate(n=Count("id"), at=Max("refreshed_at"))
    return found["n"], found["at"]


# Each model's observed figures as routing reads them: reloaded within REFRESH_SECONDS of a rollup.
observed_figures: VersionedCache[dict[int, ObservedLatency]] = VersionedCache(
    version=_observed_version, load=lambda _version, _previous: {o.llm_id: o for o in ObservedLatency.objects.all()},
    recheck_seconds=5.0)


def typical_cost(llm: LLM, request: Request, snapshot: Snapshot) -> float:
    """What a call usually costs: the recorded mean where evaluations exist, else the price list."""
    recorded = recorded_cost(llm, request, snapshot)
    return recorded if recorded is not None else expected_cost(llm, request, snapshot)


def neighbour_costs(models: list[LLM], request: Request, snapshot: Snapshot,
                     neighbours: list[tuple[int, float]]) -> dict[int, float]:
    """Recorded costs of each model on similar prompts beat a price-list estimate."""
    _, costs = request.neighbourhood(snapshot, neighbours, models)
    listed = np.array([expected_cost(llm, request, snapshot) for llm in models])
    medians = expected_cost_from(costs, listed)
    return {llm.id: float(medians[j]) for j, llm in enumerate(models)}
