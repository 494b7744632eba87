"""A routing decision, step by step, as the design describes it.

    analyse -> apply hard constraints -> gather evidence -> estimate -> score -> explain -> record

`decision_make` runs the steps for the API, the gateway, the browser chat and batches.
`request_build` (analyse) and `estimates_for` (constraints, evidence, estimates) are also what
the evaluation harness runs, so it routes exactly as the API does; it then scores the same
estimates under many weights.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from optiroute import logs
from optiroute.api_errors import OptiRouteError
from optiroute.tracing import span
from registry.embedder import get_embedder
from registry.models import DECLARED_METRICS, Prompt
from registry.tokens import DEFAULT_OUTPUT_TOKENS
from routing.analysis.serving import Analysis, analyze
from routing.engine.constraints import Constraints, hard_filter
from routing.engine.costs import observed_figures
from routing.engine.estimate import estimate
from routing.engine.explanation import explain
from routing.engine.exploration import exploration_share, explore
from routing.engine.preferences import preferences_resolve
from routing.engine.request import Candidate, Estimates, Request, RoutingError, Strategy
from routing.engine.scoring import choose, rank
from routing.engine.snapshot import Snapshot, snapshots
from routing.engine.strategies import DEFAULT_STRATEGY, STRATEGIES
from routing.learning.estimator import estimators
from routing.learning.quality import NEIGHBOURS
from routing.models import ApiKey, Cohort, Decision
from routing.recorder import recorder

# Over the whole registry with dimension evidence in it, the nearest this many times NEIGHBOURS
# are searched and shared out between accuracy and the weighted dimensions.
WIDENED = 4
ENGINE_VERSION = "2"  # 2: the k-NN estimate is shrunk by a factor fitted on the evidence


@dataclass
class Routed:
    decision: Decision
    ranking: list[Candidate]  # the candidates best first, then the reserve (every hard constraint met)


def decision_make(*, text: str, context: str = "", tokens: int | None = None, profile: str | None = None,
                  preferences: dict[str, float] | None = None, constraints: dict[str, Any] | None = None,
                  cohort: Cohort | None = None, api_key: ApiKey | None = None, user: Any = None,
                  strategy: str | None = None, mode: str = Decision.Mode.DRY_RUN, output_tokens: int | None = None,
                  unavailable: frozenset[int] = frozenset(), save: bool = True,
                  dataset_ids: tuple[int, ...] | None = None, rng: random.Random | None = None) -> Routed:
    """Route one request: `text`, or a conversation's latest message with its `context` and `tokens`
    (routing.analysis.text.routing_text). With save=False the caller records the decision, with
    what happened next (the gateway adds the calls it made). `dataset_ids` scopes the evidence as
    the evaluation harness does (the feedback replay); None reads what the cohort may see. `rng`
    draws exploration (seeded by the replay; a fresh one per call otherwise)."""
    started = time.perf_counter()
    strategy_impl = strategy_get(strategy)
    profile_name, weights = preferences_resolve(profile=profile, overrides=preferences, cohort=cohort)
    with span("routing.analysis"):
        request, analysis = request_build(
            text=text, context=context, tokens=tokens, constraints=constraints_for(constraints, cohort),
            cohort=cohort, dataset_ids=dataset_ids, output_tokens=output_tokens, unavailable=unavailable)
    analysed = time.perf_counter()
    with span("routing.evidence", strategy=strategy_impl.name):
        estimates = estimates_for(request, snapshots.get(), strategy_impl,
                                  dimensions=tuple(d for d in DECLARED_METRICS if weights.get(d, 0.0) > 0))
    estimated = time.perf_counter()
    with span("routing.scoring", profile=profile_name):
        ranking, explored = explore(choose(estimates, weights), weights,
                                    share=exploration_share(cohort=cohort, profile=profile_name, mode=mode), rng=rng)
    decision = Decision(
        mode=mode, api_key=api_key, cohort=cohort, user=user if getattr(user, "pk", None) else None,
        profile=profile_name, weights=weights, constraints=request.constraints.as_dict(), analysis=analysis.as_dict(),
        candidates=[c.as_dict() for c in ranking], excluded=estimates.excluded, neighbours=estimates.neighbours,
        filters=estimates.filters, fallback_reason=estimates.fallback_reason, chosen_model=ranking[0].llm,
        embedding=request.vector, explored=explored, strategy=strategy_impl.name, versions=_versions(analysis),
        explanation=explain(ranking[0], ranking, weights, analysis.as_dict(), estimates.fallback_reason))
    logs.decision_id.set(str(decision.id))
    done = time.perf_counter()
    decision.timings = {"analysis": _ms(started, analysed), "evidence": _ms(analysed, estimated),
                        "scoring": _ms(estimated, done), "total": _ms(started, done)}
    if save:
        recorder.record(decision)
    return Routed(decision, ranking + rank(estimates.reserve, weights))


# ------------------------------------------------------------------ the steps


def request_build(*, text: str, context: str = "", tokens: int | None = None,
                  constraints: Constraints | None = None, cohort: Cohort | None = None,
                  dataset_ids: tuple[int, ...] | None = None, output_tokens: int | None = None,
                  unavailable: frozenset[int] = frozenset()) -> tuple[Request, Analysis]:
    """Analyse: what the request asks for, in which domain, how long; its embedding; and the
    terms it is routed on (constraints, the cohort's pool, the evidence scope)."""
    if not text.strip():
        raise OptiRouteError("the request text is empty")
    analysis, vector = analyze(text, context=context, tokens=tokens)
    snapshot = snapshots.get()
    pool = snapshot.pools.get(cohort.pk) if cohort else None
    request = Request(
        text=text, vector=vector, tokens=analysis.tokens, task_type=analysis.task_type,
        task_confidence=analysis.task_confidence, domain=analysis.domain, domain_confidence=analysis.domain_confidence,
        constraints=constraints or Constraints(), pool=pool, dataset_ids=dataset_ids,
        searched_ids=dataset_ids if dataset_ids is not None else snapshot.visible_datasets(cohort.pk if cohort else None),
        own_field_ids=snapshot.own_field_datasets(cohort.pk) if cohort else (),
        output_tokens=output_tokens or DEFAULT_OUTPUT_TOKENS, unavailable=unavailable)
    return request, analysis


def constraints_for(requested: dict[str, Any] | None, cohort: Cohort | None) -> Constraints:
    """The request's hard constraints and its cohort's, both holding."""
    hard = Constraints.from_dict(requested or {})
    return hard.merged(Constraints.of_cohort(cohort)) if cohort is not None else hard


def estimates_for(request: Request, snapshot: Snapshot, strategy: Strategy,
                  dimensions: tuple[str, ...] = ()) -> Estimates:
    """Apply the hard constraints, gather the evidence (for accuracy, and for each of `dimensions`
    that evaluations measure), estimate every candidate."""
    candidates, excluded = hard_filter(request, snapshot)
    if not candidates:
        raise RoutingError("no model meets the hard constraints", details={"excluded": excluded})
    neighbours, by_dimension = evidence_search(request, snapshot, dimensions)
    return estimate(request, snapshot, strategy, candidates=candidates, excluded=excluded, neighbours=neighbours,
                    dimension_neighbours=by_dimension)


def evidence_gather(request: Request) -> list[tuple[int, float]]:
    """The nearest evaluated (train) prompts to the request, in its evidence scope (never another
    cohort's own field evidence), most similar first."""
    return evidence_search(request, snapshots.get(), ())[0]


def evidence_search(request: Request, snapshot: Snapshot, dimensions: tuple[str, ...]
                    ) -> tuple[list[tuple[int, float]], dict[str, list[tuple[int, float]]]]:
    """The nearest prompts evaluated on accuracy, and per non-accuracy dimension of `dimensions`
    the nearest evaluated on it, in the request's scope, most similar first.

    Feedback (field evidence) is searched apart and added: each rated answer speaks for one model
    only, and in one search with the evaluations it pushed out evaluated prompts that speak for
    every model; the feedback replay lost AIQ after its first round that way (README: Feedback
    replay). Over the whole registry (the API's scope), one index search, widened, serves every
    dimension: a scoped search costs several times more (an exact scan of a large scope), and
    a dimension with no prompt among the widened nearest has thin evidence, so its model-level
    figure stands (routing.engine.estimate.dimension_estimates)."""
    scope = request.dataset_ids if request.dataset_ids is not None else request.searched_ids
    evaluated, field = snapshot.split_field(scope)
    scopes = {dimension: datasets for dimension in dimensions
              if (datasets := snapshot.dimension_scope(dimension, scope))}
    if evaluated is None and (scopes or snapshot.accuracy_scope(None) is not None):
        found, by_dimension = _widened_search(request, snapshot, tuple(scopes))
    else:
        evaluated = snapshot.accuracy_scope(evaluated)
        found = Prompt.objects.nearest_train_ids(request.vector, NEIGHBOURS, evaluated) if evaluated != () else []
        by_dimension = _per_dataset_search(request, scopes)
    if field:
        found = sorted(found + Prompt.objects.nearest_train_ids(request.vector, NEIGHBOURS, field),
                       key=lambda neighbour: -neighbour[1])
    return found, by_dimension


def _widened_search(request: Request, snapshot: Snapshot, dimensions: tuple[str, ...]
                    ) -> tuple[list[tuple[int, float]], dict[str, list[tuple[int, float]]]]:
    nearest = Prompt.objects.nearest_train_ids(request.vector, NEIGHBOURS * WIDENED, None)
    accuracy = snapshot.evidence.rows
    by_dimension = {}
    for dimension in dimensions:
        rows = snapshot.dimension_evidence(dimension).rows
        by_dimension[dimension] = [n for n in nearest if n[0] in rows][:NEIGHBOURS]
    return [n for n in nearest if n[0] in accuracy][:NEIGHBOURS], by_dimension


def _per_dataset_search(request: Request, scopes: dict[str, tuple[int, ...]]) -> dict[str, list[tuple[int, float]]]:
    """Within a scope (the evaluation harness, a cohort's datasets): the nearest of each dimension's
    datasets, one exact scan for all."""
    datasets = tuple(sorted({ds for found in scopes.values() for ds in found}))
    if not datasets:
        return {}
    per_dataset = Prompt.objects.nearest_train_ids_per_dataset(request.vector, NEIGHBOURS, datasets)
    return {dimension: sorted((n for ds in found for n in per_dataset.get(ds, [])), key=lambda n: -n[1])[:NEIGHBOURS]
            for dimension, found in scopes.items()}


def strategy_get(name: str | None) -> Strategy:
    chosen = name or DEFAULT_STRATEGY
    if chosen not in STRATEGIES:
        raise OptiRouteError(f"unknown strategy {chosen!r}; known: {', '.join(STRATEGIES)}")
    return STRATEGIES[chosen]


def routing_state_load() -> None:
    """Load now what routing reads on every call (the registry snapshot with its evidence, the
    estimator, the observed latencies, the analyzer, the embedder) instead of on a process's first
    request."""
    _ = snapshots.get().evidence
    estimators.get()
    observed_figures.get()
    analyze("Warm-up request: load the analyzer and the embedder.")


def routing_state_loaded() -> bool:
    """Whether this process holds what routing reads (routing_state_load has run, or a request has)."""
    return snapshots.loaded and estimators.loaded


def _versions(analysis: Analysis) -> dict[str, Any]:
    estimator = estimators.get()
    return {"engine": ENGINE_VERSION, "analyzer": analysis.analyzer_version, "embedder": get_embedder().name,
            "estimator": estimator.version_id if estimator else None}


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 3)

