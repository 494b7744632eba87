"""Stage 3 of a decision: the evidence, and the strategies that turn it into each candidate's
expected quality for this request."""

from __future__ import annotations

import numpy as np

from registry.models import LLM
from routing.engine.request import Request, Strategy
from routing.engine.snapshot import Prior, Snapshot
from routing.learning.estimator import estimators
from routing.learning.quality import KNN, PRIOR_STRENGTH, neighbour_estimate


def evidence_scopes(request: Request) -> tuple[int | None, ...]:
    """The datasets whose evidence this request may read (None: every dataset shared with all,
    beside the cohort's own feedback)."""
    return request.dataset_ids if request.dataset_ids is not None else (None, *request.own_field_ids)


def prior_for(llm_id: int, task_type: str, request: Request, snapshot: Snapshot) -> Prior:
    """The model's track record on this task type, else overall, in the evidence scope."""
    return snapshot.prior(llm_id, task_type, evidence_scopes(request), feedback_weight(request, snapshot))


def feedback_weight(request: Request, snapshot: Snapshot) -> float:
    """How far ratings correct a model's task-level record, from the k-NN shrinkage factor s (the
    share of the estimate that neighbours carry): 1 - 2s, and none from s = 0.5. Where
    neighbours are noise (s near 0, RouterBench), routing picks alike across a task type, its
    ratings are a fair sample of it, and the record is the only place they can speak. Where
    neighbours carry the estimate, ratings speak as neighbours of the requests they resemble,
    and correcting the record as well cost AIQ in the replay on LLMRouter (s = 0.67: 0.510 after
    one round with ratings as neighbours only, 0.503 with a third of the correction, 0.502 with
    all of it). Chosen on the replays of both datasets (README: Feedback replay)."""
    if not snapshot.has_feedback(evidence_scopes(request)):
        return 1.0
    estimator = estimators.get()
    share = estimator.shrinkage_for(snapshot.split_field(request.dataset_ids)[0]) if estimator else 1.0
    return round(max(0.0, 1.0 - 2.0 * share), 2)


class KnnStrategy:
    """Similarity-weighted neighbour scores, shrunk toward the model's task-level prior as far as
    the evidence shows neighbours to be informative (routing.learning.quality.fit_shrinkage)."""

    name = "knn"

    def quality(self, request: Request, models: list[LLM], snapshot: Snapshot,
                neighbours: list[tuple[int, float]]) -> dict[int, tuple[float, float, int]]:
        raw, _ = request.neighbourhood(snapshot, neighbours, models)
        field = np.array([pid in snapshot.evidence.field_rows for pid, _ in neighbours], dtype=bool)
        scores, sims, field = snapshot.evidence.field_merged(
            raw, np.array([sim for _, sim in neighbours], dtype=np.float32), field, [m.id for m in models],
            snapshot.split_field(request.dataset_ids)[0])
        priors = np.array([prior_for(llm.id, request.task_type, request, snapshot).quality for llm in models],
                          dtype=np.float32)
        estimate, total = neighbour_estimate(scores, sims, priors, reference=~field, **KNN)
        estimator = estimators.get()
        # Fitted on evaluations: how far their neighbours predict. Field evidence in the scope
        # does not change which factor applies (it is searched apart: pipeline.evidence_gather).
        share = estimator.shrinkage_for(snapshot.split_field(request.dataset_ids)[0]) if estimator else 1.0
        quality = priors + share * (estimate - priors)
        confidence = share * total / (total + PRIOR_STRENGTH)
        counts = (~np.isnan(raw)).sum(axis=0)
        return {llm.id: (q, c, n) for llm, q, c, n in
                zip(models, quality.tolist(), confidence.tolist(), counts.tolist(), strict=True)}


def evaluated_quality(request: Request, models: list[LLM], snapshot: Snapshot,
                      neighbours: list[tuple[int, float]]) -> dict[int, float]:
    """The k-NN estimate from the evaluations alone: the evaluated neighbours and records, no
    feedback. A rating is compared with it (Snapshot._lookup_prior): it stays put as feedback
    accrues, so ratings of every round correct the record from the same reference."""
    # The neighbourhood the estimate read (looked up once per search), without its rated answers.
    raw, _ = request.neighbourhood(snapshot, neighbours, models)
    evaluated = np.array([pid not in snapshot.evidence.field_rows for pid, _ in neighbours], dtype=bool)
    scores = raw[evaluated]
    sims = np.array([sim for _, sim in neighbours], dtype=np.float32)[evaluated]
    scopes = evidence_scopes(request)
    priors = np.array([snapshot.evaluated_prior(llm.id, request.task_type, scopes).quality for llm in models],
                      dtype=np.float32)
    estimate, _ = neighbour_estimate(scores, sims, priors, reference=None, **KNN)
    estimator = estimators.get()
    share = estimator.shrinkage_for(snapshot.split_field(request.dataset_ids)[0]) if estimator else 1.0
    return {llm.id: float(q) for llm, q in zip(models, (priors + share * (estimate - priors)).tolist(), strict=True)}


class CosineStrategy:
    """The design's method: cosine similarity between the request vector and each model's embedding."""

    name = "cosine"

    def quality(self, request: Request, models: list[LLM], snapshot: Snapshot,
                neighbours: list[tuple[int, float]]) -> dict[int, tuple[float, float, int]]:
        out = {}
        for llm in models:
            prior = prior_for(llm.id, request.task_type, request, snapshot)
            vectors = [snapshot.model_vectors[(llm.id, ds)] for ds in evidence_scopes(request)
                       if (llm.id, ds) in snapshot.model_vectors]
            if not vectors:
                out[llm.id] = (prior.quality, 0.0, 0)
                continue
            cosine = float(np.dot(request.vector, np.mean(vectors, axis=0)))
            out[llm.id] = (min(1.0, max(0.0, prior.quality + cosine)), abs(cosine), 0)
        return out


class LearnedStrategy:
    """Per-model success models blended with the neighbours' record (routing.learning.quality)."""

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
                out[llm.id] = (prior_for(llm.id, request.task_type, request, snapshot).quality, 0.0, 0)
        return out


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (LearnedStrategy(), KnnStrategy(), CosineStrategy())}
# Chosen by evaluate_router on both datasets of ../shared/data (README: Evaluating the router).
DEFAULT_STRATEGY = "knn"
