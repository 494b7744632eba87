"""Stages 2 to 4 of a decision: everything that depends on the request alone.

`estimate()` filters by hard constraints and task, gathers the nearest evaluated prompts and
gives every candidate its expected quality, cost and latency; the user's weights are applied
afterwards (routing.engine.scoring), so the evaluation harness sweeps weights over one set of
estimates.
"""

from __future__ import annotations

import numpy as np

from registry.models import DECLARED_METRICS, LLM
from routing.engine.costs import expected_latency_ms, neighbour_costs, typical_cost
from routing.engine.request import NEIGHBOURS_RECORDED, Candidate, Estimates, Request, RoutingError, Strategy
from routing.engine.snapshot import Snapshot
from routing.engine.strategies import evaluated_quality, evidence_scopes, prior_for

NEUTRAL = 0.5


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
    return snapshot.evaluated_on(llm.id, request.task_type, evidence_scopes(request))


def declared_metrics(llm: LLM, snapshot: Snapshot) -> dict[str, float]:
    key = ("declared", llm.id)
    declared = snapshot.memo.get(key)
    if declared is None:
        declared = snapshot.memo[key] = {metric: NEUTRAL if getattr(llm, metric) is None else getattr(llm, metric)
                                         for metric in DECLARED_METRICS}
    return declared  # type: ignore[return-value]


def estimate(request: Request, snapshot: Snapshot, strategy: Strategy, *, candidates: list[LLM],
             excluded: dict[str, str], neighbours: list[tuple[int, float]]) -> Estimates:
    """Every candidate (the models that meet the hard constraints) with its expected quality from
    `strategy` on the `neighbours` (the nearest evaluated prompts), cost and latency; those
    evaluated on or built for the task first, the others in reserve."""
    models, filters = task_filter(candidates, request, snapshot)
    qualities = strategy.quality(request, candidates, snapshot, neighbours)
    estimates = Estimates([], excluded, filters, [{"prompt_id": pid, "similarity": round(sim, 4)}
                                                  for pid, sim in neighbours[:NEIGHBOURS_RECORDED]])
    qualified = [m for m in models if qualities[m.id][1] > 0.0 or
                 prior_for(m.id, request.task_type, request, snapshot).source != "none"]
    if not qualified:
        qualified = [m for m in candidates if m.is_generalist]
        estimates.fallback_reason = ("no candidate has evaluations or published figures for this request; "
                                     "chose among the generalist models")
        if not qualified:
            raise RoutingError("no evaluated model fits and every generalist model breaks a hard constraint",
                               details={"excluded": excluded})
    costs = neighbour_costs(candidates, request, snapshot, neighbours)
    from_feedback = feedback_neighbours(request, snapshot, candidates, neighbours)
    # Only where feedback is in scope does the estimate differ from the evaluations' alone.
    reference = evaluated_quality(request, candidates, snapshot, neighbours) \
        if snapshot.has_feedback(evidence_scopes(request)) else {}
    chosen_ids = {m.id for m in qualified}
    for llm in candidates:
        quality, confidence, count = qualities[llm.id]
        prior = prior_for(llm.id, request.task_type, request, snapshot)
        candidate = Candidate(
            llm=llm, quality=quality, confidence=confidence, evidence_n=count, prior=prior.quality,
            prior_source=prior.source, cost_usd=costs[llm.id], typical_cost_usd=typical_cost(llm, request, snapshot),
            latency_ms=expected_latency_ms(llm, request.output_tokens), declared=declared_metrics(llm, snapshot),
            feedback_n=from_feedback[llm.id],
            feedback_prior_n=snapshot.field_prior_n(llm.id, request.task_type, evidence_scopes(request)),
            evaluated_quality=reference.get(llm.id, quality))
        (estimates.candidates if llm.id in chosen_ids else estimates.reserve).append(candidate)
    return estimates


def feedback_neighbours(request: Request, snapshot: Snapshot, models: list[LLM],
                        neighbours: list[tuple[int, float]]) -> dict[int, int]:
    """Per model, how many of the neighbours are rated answers of it (field evidence)."""
    field = [i for i, (pid, _) in enumerate(neighbours) if pid in snapshot.evidence.field_rows]
    if not field:
        return {llm.id: 0 for llm in models}
    scores, _ = request.neighbourhood(snapshot, neighbours, models)
    counts = (~np.isnan(scores[field])).sum(axis=0)
    return {llm.id: int(n) for llm, n in zip(models, counts.tolist(), strict=True)}
