"""Stages 2 to 4 of a decision: everything that depends on the request alone.

`estimate()` filters by hard constraints and task, gathers the nearest evaluated prompts and
gives every candidate its expected quality, cost and latency; the user's weights are applied
afterwards (routing.engine.scoring), so the evaluation harness sweeps weights over one set of
estimates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from registry.models import DECLARED_METRICS, LLM
from routing.engine.costs import expected_latency, neighbour_costs, typical_cost
from routing.engine.request import NEIGHBOURS_RECORDED, Candidate, Estimates, Request, RoutingError, Strategy
from routing.engine.snapshot import Snapshot
from routing.engine.strategies import evaluated_quality, evidence_scopes, prior_for
from routing.learning.estimator import estimators
from routing.learning.quality import KNN, neighbour_estimate

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
             excluded: dict[str, str], neighbours: list[tuple[int, float]],
             dimension_neighbours: dict[str, list[tuple[int, float]]] | None = None) -> Estimates:
    """Every candidate (the models that meet the hard constraints) with its expected quality from
    `strategy` on the `neighbours` (the nearest evaluated prompts), its other dimensions from
    `dimension_neighbours` (the nearest prompts evaluated on each), cost and latency; those
    evaluated on or built for the task first, the others in reserve."""
    models, filters = task_filter(candidates, request, snapshot)
    qualities = strategy.quality(request, candidates, snapshot, neighbours)
    dimensions = {dimension: dimension_estimates(dimension, request, snapshot, candidates, found)
                  for dimension, found in (dimension_neighbours or {}).items()}
    estimates = Estimates([], excluded, filters, [{"prompt_id": pid, "similarity": round(sim, 4)}
                                                  for pid, sim in neighbours[:NEIGHBOURS_RECORDED]])
    qualified = [m for m in models if qualities[m.id][1] > 0.0 or
                 prior_for(m.id, request.task_type, request, snapshot).source != "none"
                 or any(found[m.id][1] for found in dimensions.values())]
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
        latency = expected_latency(llm, request.output_tokens)
        candidate = Candidate(
            llm=llm, quality=quality, confidence=confidence, evidence_n=count, prior=prior.quality,
            prior_source=prior.source, cost_usd=costs[llm.id], typical_cost_usd=typical_cost(llm, request, snapshot),
            latency_ms=latency.ms, latency_source=latency.source,
            declared={**declared_metrics(llm, snapshot), **{d: found[llm.id][0] for d, found in dimensions.items()}},
            feedback_n=from_feedback[llm.id],
            feedback_prior_n=snapshot.field_prior_n(llm.id, request.task_type, evidence_scopes(request)),
            dimension_sources={d: found[llm.id][1] for d, found in dimensions.items()},
            evaluated_quality=reference.get(llm.id, quality))
        (estimates.candidates if llm.id in chosen_ids else estimates.reserve).append(candidate)
    neutral_fill(estimates.candidates + estimates.reserve)
    return estimates


def neutral_fill(candidates: list[Candidate]) -> None:
    """A model without a published figure on a dimension scores the mean of the candidates' published
    figures on it (NEUTRAL where none has one): a missing figure is neither a penalty nor a reward,
    as a fixed 0.5 would be against leaderboards whose figures run from 0.9 to 1."""
    for metric in DECLARED_METRICS:
        known = [value for c in candidates if (value := getattr(c.llm, metric)) is not None]
        fill = sum(known) / len(known) if known else NEUTRAL
        for c in candidates:
            if getattr(c.llm, metric) is None and not measured_for_request(c, metric):
                c.declared = {**c.declared, metric: fill}


def measured_for_request(candidate: Candidate, dimension: str) -> bool:
    """Whether evaluations in scope gave this dimension's figure (per-request evidence or the
    model's mean on the dimension's datasets), rather than the catalog."""
    source = candidate.dimension_sources.get(dimension)
    return source is not None and (source["source"] == "evidence" or source.get("from") == "evaluations")


def dimension_estimates(dimension: str, request: Request, snapshot: Snapshot, models: list[LLM],
                        neighbours: list[tuple[int, float]]) -> dict[int, tuple[float, dict[str, Any]]]:
    """Each model's expected score on a non-accuracy dimension for this request, estimated as the
    k-NN strategy estimates accuracy: the neighbours' similarity-weighted scores shrunk toward the
    model-level figure (its mean on the dimension's datasets in scope, else its declared metric),
    which is all that is left where no neighbour scores the model, then by the shrinkage factor fitted
    on the dimension's evidence. With where the figure came from."""
    evidence = snapshot.dimension_evidence(dimension)
    prompt_ids = [pid for pid, _ in neighbours]
    scores, _ = evidence.neighbourhood(prompt_ids, [m.id for m in models])
    sims = np.array([sim for _, sim in neighbours], dtype=np.float32)
    scope = snapshot.dimension_scope(dimension, request.dataset_ids if request.dataset_ids is not None
                                     else request.searched_ids)
    priors, measured = _model_level(dimension, scope, models, snapshot)
    estimate, _ = neighbour_estimate(scores, sims, priors, temperature=KNN["temperature"],
                                     prior_strength=KNN["prior_strength"], relevant_similarity=KNN["relevant_similarity"])
    # As for accuracy: only as far from the model-level figure as neighbours were found to predict
    # this dimension's outcomes (routing.learning.estimator.fit_dimension_shrinkage).
    estimator = estimators.get()
    share = estimator.shrinkage_for(request.dataset_ids, dimension) if estimator else 1.0
    estimate = priors + share * (estimate - priors)
    counts = (~np.isnan(scores)).sum(axis=0).tolist()
    datasets = sorted({snapshot.dataset_names.get(ds, str(ds)) for ds in evidence.datasets_of(prompt_ids)})
    out = {}
    for m, value, n, level in zip(models, estimate.tolist(), counts, measured, strict=True):
        if n:
            source: dict[str, Any] = {"source": "evidence", "datasets": datasets, "n": int(n)}
        else:
            source = {"source": "model-level", "from": "evaluations" if level else "declared"}
        out[m.id] = (float(value), source)
    return out


def _model_level(dimension: str, scope: tuple[int, ...], models: list[LLM],
                 snapshot: Snapshot) -> tuple[np.ndarray, list[bool]]:
    """Each model's model-level figure on the dimension, and whether evaluations measured it
    (else it is the declared metric); the same for every request of a scope, so kept."""
    key = ("dimension_level", dimension, scope, tuple(m.id for m in models))
    found = snapshot.memo.get(key)
    if found is None:
        levels = [snapshot.dimension_prior(dimension, m.id, scope) for m in models]
        priors = np.array([level.quality if level else declared_metrics(m, snapshot)[dimension]
                           for m, level in zip(models, levels, strict=True)], dtype=np.float32)
        found = snapshot.memo[key] = (priors, [level is not None for level in levels])
    return found  # type: ignore[return-value]


def feedback_neighbours(request: Request, snapshot: Snapshot, models: list[LLM],
                        neighbours: list[tuple[int, float]]) -> dict[int, int]:
    """Per model, how many of the neighbours are rated answers of it (field evidence)."""
    field = [i for i, (pid, _) in enumerate(neighbours) if pid in snapshot.evidence.field_rows]
    if not field:
        return {llm.id: 0 for llm in models}
    scores, _ = request.neighbourhood(snapshot, neighbours, models)
    counts = (~np.isnan(scores[field])).sum(axis=0)
    return {llm.id: int(n) for llm, n in zip(models, counts.tolist(), strict=True)}
