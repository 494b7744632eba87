"""Stage 5 of a decision: every candidate scored on each dimension and weighed by the user's sliders."""

from __future__ import annotations

from registry.services import inverted_log_scale
from routing.engine.request import Candidate, Estimates


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
