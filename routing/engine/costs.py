"""What a call is expected to cost and how long it takes: recorded costs where evaluations exist,
the price list and declared speeds otherwise."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from registry.models import LLM
from routing.learning.quality import expected_cost_from

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


def expected_latency_ms(llm: LLM, output_tokens: int) -> float:
    first_token = llm.latency_ms_p50 if llm.latency_ms_p50 is not None else 1000.0
    speed = llm.tokens_per_second or 50.0
    return first_token + 1000.0 * output_tokens / speed


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
