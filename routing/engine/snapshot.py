"""An in-process, read-mostly view of the registry that routing decisions need on every call.

Loading models, profiles and evaluation results per request would cost several queries;
the snapshot keeps them in memory and reloads when the registry changes (checked at most
every REFRESH_SECONDS), so a decision costs one nearest-neighbour query.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import cast

import numpy as np
from django.db.models import Avg, Count, F, Max, Sum

from registry.models import FIELD_FORMAT, LLM, Dataset, Dimension, EvaluationResult, ModelProfile
from routing.engine.priors import benchmark_priors, figures_of
from routing.models import Cohort, PreferenceProfile
from routing.rules import weight_problems
from routing.versioned_cache import VersionedCache

# Cohort pools live here too, so a pool change reaches routing within this many seconds.
REFRESH_SECONDS = 5.0
NEUTRAL_PRIOR = 0.5


@dataclass
class Prior:
    quality: float
    n: int
    source: str
    # Feedback only: the mean of (rating - what the evaluations led routing to expect), over
    # residual_n ratings.
    residual: float = 0.0
    residual_n: int = 0


@dataclass
class Snapshot:
    generation: tuple[object, ...]
    models: dict[int, LLM]
    # (llm_id, dataset_id or None for all, task_type or "") -> Prior
    priors: dict[tuple[int, int | None, str], Prior]
    dataset_models: dict[int, set[int]]
    mean_cost: dict[tuple[int, int | None], float]
    profiles: dict[str, dict[str, float]] = field(default_factory=dict)
    # Profiles whose stored weights are invalid (saved before they were validated): what is wrong.
    broken_profiles: dict[str, str] = field(default_factory=dict)
    # (llm_id, task_type) -> a prior estimated from the model's published benchmarks of other task
    # types, where it has none of this one (not a record on it: the task filter does not count it).
    estimates: dict[tuple[int, str], Prior] = field(default_factory=dict)
    pools: dict[int, frozenset[int]] = field(default_factory=dict)  # cohort id -> its model pool
    costs_by_model: dict[int, list[tuple[int, float]]] = field(default_factory=dict)  # llm -> [(dataset, mean)]
    # (llm_id, dataset_id or None) -> the model's embedding (registry.services._model_embeddings)
    model_vectors: dict[tuple[int, int | None], np.ndarray] = field(default_factory=dict)
    # dataset id -> whose requests may read it ("cohort:<id>"), for field evidence kept to a cohort
    audiences: dict[int, str] = field(default_factory=dict)
    # Datasets of outcomes seen in production (feedback), shared or kept to a cohort.
    field_datasets: frozenset[int] = frozenset()
    # Non-accuracy dimensions: (dimension, llm_id, dataset_id) -> the model's mean on that
    # dataset, and dimension -> the datasets that measure it (per-request evidence).
    dimension_priors: dict[tuple[str, int, int], Prior] = field(default_factory=dict)
    dimension_datasets: dict[str, frozenset[int]] = field(default_factory=dict)
    dataset_names: dict[int, str] = field(default_factory=dict)
    _evidence: Evidence | None = None
    _dimension_evidence: dict[str, Evidence] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Values derived from the above (priors per task and scope, typical costs), computed on
    # first use: the snapshot never changes, so neither do they.
    memo: dict[tuple[object, ...], object] = field(default_factory=dict, repr=False)

    def model_named(self, name: str) -> LLM | None:
        """The registered model of this name (names are unique), found without a scan."""
        key = ("by_name",)
        by_name = self.memo.get(key)
        if by_name is None:
            by_name = self.memo[key] = {m.name: m for m in self.models.values()}
        return by_name.get(name)  # type: ignore[attr-defined,no-any-return]

    def visible_datasets(self, cohort_id: int | None) -> tuple[int, ...] | None:
        """The datasets a request of this cohort reads: all (None) unless another cohort keeps
        field evidence of its own."""
        mine = f"cohort:{cohort_id}"
        hidden = {ds for ds, audience in self.audiences.items() if audience != mine}
        if not hidden:
            return None
        visible = [ds for ds in self.dataset_models if ds not in hidden]
        return tuple(sorted(visible + [ds for ds, audience in self.audiences.items() if audience == mine]))

    def split_field(self, scope: tuple[int, ...] | None) -> tuple[tuple[int, ...] | None, tuple[int, ...]]:
        """A search scope (None: every dataset but other cohorts' own field evidence) as its
        evaluated datasets (None: all of them) and its field datasets."""
        if scope is None:
            shared = tuple(sorted(ds for ds in self.field_datasets if ds not in self.audiences))
            if not shared:
                return None, ()
            return tuple(sorted(ds for ds in self.dataset_models if ds not in self.field_datasets)), shared
        return (tuple(ds for ds in scope if ds not in self.field_datasets),
                tuple(ds for ds in scope if ds in self.field_datasets))

    def own_field_datasets(self, cohort_id: int | None) -> tuple[int, ...]:
        """The field evidence kept to this cohort: read with every dataset (None) by its requests."""
        mine = f"cohort:{cohort_id}"
        return tuple(sorted(ds for ds, audience in self.audiences.items() if audience == mine))

    def prior(self, llm_id: int, task_type: str, scopes: tuple[int | None, ...], feedback_weight: float = 1.0) -> Prior:
        """The model's track record on this task type, else overall, over these datasets
        (None: every dataset): their results pooled by count, corrected by feedback at
        `feedback_weight` (Snapshot._lookup_prior); NEUTRAL_PRIOR without any."""
        key = ("prior", llm_id, task_type, scopes, feedback_weight)
        prior = self.memo.get(key)
        if prior is None:
            prior = self.memo[key] = self._lookup_prior(llm_id, task_type, scopes, feedback_weight)
        return prior  # type: ignore[return-value]

    def field_prior_n(self, llm_id: int, task_type: str, scopes: tuple[int | None, ...]) -> int:
        """How many ratings correct (or, for a model no evaluation measured, make) the model's
        prior for this task type (Snapshot.prior)."""
        base, key = self._evaluated_prior(llm_id, task_type, self._evaluated_scopes(scopes))
        feedback = self._field_prior(llm_id, task_type, scopes, overall=key == "")
        return feedback.residual_n if base.n else feedback.n

    def evaluated_prior(self, llm_id: int, task_type: str, scopes: tuple[int | None, ...]) -> Prior:
        """The model's record from the evaluations in these scopes alone (Snapshot.prior without feedback)."""
        return self._evaluated_prior(llm_id, task_type, self._evaluated_scopes(scopes))[0]

    def evaluated_on(self, llm_id: int, task_type: str, scopes: tuple[int | None, ...]) -> bool:
        """Whether an evaluation in these scopes measured the model on this task type. Feedback
        does not count: it speaks only of the models routing chose, and counting it made the
        first models chosen for a task type the only ones kept for it (the task filter)."""
        return any((llm_id, ds, task_type) in self.priors for ds in self._evaluated_scopes(scopes))

    def has_feedback(self, scopes: tuple[int | None, ...]) -> bool:
        """Whether feedback (a field dataset) is in these scopes."""
        return bool(self._field_scopes(scopes))

    def _evaluated_scopes(self, scopes: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return tuple(ds for ds in scopes if ds not in self.field_datasets)

    def _field_scopes(self, scopes: tuple[int | None, ...]) -> list[int]:
        return [ds for ds in self.field_datasets if ds in scopes or (None in scopes and ds not in self.audiences)]

    def _field_prior(self, llm_id: int, task_type: str, scopes: tuple[int | None, ...], *, overall: bool) -> Prior:
        """The feedback on the model for this task type in these scopes, pooled by count (with
        `overall`, on any task type where none is on this one)."""
        for key in (task_type, "") if overall else (task_type,):
            found = [self.priors[(llm_id, ds, key)] for ds in self._field_scopes(scopes)
                     if (llm_id, ds, key) in self.priors]
            if found:
                pooled = _pooled(found)
                residual_n = sum(p.residual_n for p in found)
                residual = sum(p.residual * p.residual_n for p in found) / residual_n if residual_n else 0.0
                return Prior(pooled.quality, pooled.n, "feedback", residual, residual_n)
        return Prior(NEUTRAL_PRIOR, 0, "none")

    def _lookup_prior(self, llm_id: int, task_type: str, scopes: tuple[int | None, ...],
                      feedback_weight: float) -> Prior:
        """The evaluations' record (on the task type, else overall, else published figures),
        corrected by feedback; a model no evaluation measured takes its ratings' mean.

        A rating corrects the record by how far it fell from what the evaluations alone led
        routing to expect for that request, not by its level: a model is rated where routing
        chose it, where its evidence looked good, so the ratings' mean overstates its record on
        the task type as a whole. Pooled by level, they handed it more of that task type each
        round (the replay on LLMRouter: AIQ 0.502 with the starting evidence, 0.489 after one
        round). Where neighbours say nothing (RouterBench), the expectation is the record
        itself, and the correction is the ratings pooled by count. `feedback_weight` scales the
        correction (strategies.feedback_weight: where neighbours are informative, ratings speak
        as neighbours instead)."""
        base, key = self._evaluated_prior(llm_id, task_type, self._evaluated_scopes(scopes))
        feedback = self._field_prior(llm_id, task_type, scopes, overall=key == "")
        if feedback.n == 0:
            return base
        if base.n == 0:
            return Prior(feedback.quality, feedback.n, "feedback")
        if feedback.residual_n == 0:
            return base
        shift = feedback_weight * feedback.residual * feedback.residual_n / (feedback.residual_n + base.n)
        return Prior(min(1.0, max(0.0, base.quality + shift)), base.n + feedback.residual_n, base.source)

    def _evaluated_prior(self, llm_id: int, task_type: str, scopes: tuple[int | None, ...]) -> tuple[Prior, str]:
        for key in (task_type, ""):
            found = [self.priors[(llm_id, ds, key)] for ds in scopes if (llm_id, ds, key) in self.priors]
            if found:
                return _pooled(found), key
            # Other models are measured on this task type and this one is not: its overall
            # standing would compare a figure on easier benchmarks with theirs.
            if key and None in scopes and (llm_id, key) in self.estimates:
                return self.estimates[(llm_id, key)], key
        return Prior(NEUTRAL_PRIOR, 0, "none"), ""

    def accuracy_scope(self, evaluated: tuple[int, ...] | None) -> tuple[int, ...] | None:
        """A search scope of evaluated datasets narrowed to those with accuracy results: prompts
        that measure only another dimension would take the accuracy neighbours' places."""
        other = set().union(*self.dimension_datasets.values()) - self.accuracy_datasets
        if not other:
            return evaluated
        if evaluated is None:
            evaluated = tuple(sorted(ds for ds in self.dataset_models if ds not in self.field_datasets))
        return tuple(ds for ds in evaluated if ds not in other)

    @property
    def accuracy_datasets(self) -> set[int]:
        key = ("accuracy_datasets",)
        found = self.memo.get(key)
        if found is None:
            measured = {(llm_id, ds) for llm_id, ds, _ in self.priors if ds is not None}
            found = self.memo[key] = {ds for _, ds in measured}
        return found  # type: ignore[return-value]

    def dimension_scope(self, dimension: str, scope: tuple[int, ...] | None) -> tuple[int, ...]:
        """The datasets measuring `dimension` that a request of this scope may read."""
        measured = self.dimension_datasets.get(dimension, frozenset())
        return tuple(sorted(measured if scope is None else measured & set(scope)))

    def dimension_prior(self, dimension: str, llm_id: int, scope: tuple[int, ...]) -> Prior | None:
        """The model's mean on `dimension` over these datasets, pooled by count; None without results."""
        found = [self.dimension_priors[(dimension, llm_id, ds)] for ds in scope
                 if (dimension, llm_id, ds) in self.dimension_priors]
        if not found:
            return None
        total = sum(p.n for p in found)
        return Prior(sum(p.quality * p.n for p in found) / max(total, 1), total, found[0].source)

    def dimension_evidence(self, dimension: str) -> Evidence:
        """Every train-split result of a non-accuracy dimension, loaded on first use (one query)."""
        with self.lock:
            if dimension not in self._dimension_evidence:
                self._dimension_evidence[dimension] = _load_evidence(dimension)
            return self._dimension_evidence[dimension]

    @property
    def evidence(self) -> Evidence:
        """Every train-split result in memory, loaded on first use (one query)."""
        with self.lock:
            if self._evidence is None:
                self._evidence = _load_evidence()
            return self._evidence


@dataclass
class Evidence:
    rows: dict[int, int]  # prompt id -> row
    columns: dict[int, int]  # llm id -> column
    scores: np.ndarray  # rows x columns, NaN where the model has no result on the prompt
    costs: np.ndarray
    field_rows: frozenset[int] = frozenset()  # prompt ids of field evidence (feedback)
    row_datasets: dict[int, int] = field(default_factory=dict)  # prompt id -> dataset id

    def datasets_of(self, prompt_ids: list[int]) -> set[int]:
        return {self.row_datasets[pid] for pid in prompt_ids if pid in self.row_datasets}
    datasets: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # dataset id per row
    _links: dict[tuple[int, ...] | None, np.ndarray] = field(default_factory=dict, repr=False)

    def outcome_links(self, dataset_ids: tuple[int, ...] | None) -> np.ndarray:
        """(columns, 2, columns): the mean score of model b where model a failed ([a, 0, b]) and
        where it passed ([a, 1, b]), over the evaluations of these datasets (None: all but field
        evidence); NaN where no prompt has both. How one model's outcome on a prompt speaks for
        the others': a prompt the strong models fail is usually one the weak ones fail too."""
        links = self._links.get(dataset_ids)
        if links is None:
            links = self._links[dataset_ids] = _links(self._evaluated(dataset_ids))
        return links

    def field_merged(self, scores: np.ndarray, sims: np.ndarray, field: np.ndarray, llm_ids: list[int],
                     dataset_ids: tuple[int, ...] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The neighbours (`scores` from `neighbourhood`, `sims`) with their rated answers (rows
        where `field`) merged per request and completed: the rated answers of one request (the
        same embedding, so the same similarity) become one row holding every model rated on it,
        and the other models' scores there are read from how their outcomes go with the rated
        ones in these datasets' evaluations (outcome_links): a prompt one model fails is often
        one the others fail too. Returns (scores, sims, field) with the merged rows last.

        Without the merge, a request rated round after round filled the neighbours with copies of
        itself; without the completion, a model rated down on prompts every model fails looked
        worse there than every model nobody rated (the replay on LLMRouter)."""
        rows = np.flatnonzero(field)
        if not len(rows):
            return scores, sims, field
        links = self.outcome_links(dataset_ids)
        cols = np.array([self.columns.get(mid, -1) for mid in llm_ids], dtype=np.int64)
        groups: dict[float, list[int]] = defaultdict(list)
        for i in rows:
            groups[round(float(sims[i]), 5)].append(int(i))
        merged = np.full((len(groups), scores.shape[1]), np.nan, dtype=np.float32)
        for g, members in enumerate(groups.values()):
            block = scores[members]
            rated = np.flatnonzero((~np.isnan(block)).any(axis=0))
            merged[g, rated] = np.nanmean(block[:, rated], axis=0)
            guesses = [merged[g, j] * links[cols[j], 1] + (1.0 - merged[g, j]) * links[cols[j], 0]
                       for j in rated if cols[j] >= 0]
            if guesses:
                guess = _mean_of_known(np.array(guesses))
                gaps = np.isnan(merged[g]) & (cols >= 0)
                merged[g, gaps] = guess[cols[gaps]]
        evaluated = np.flatnonzero(~field)
        return (np.vstack([scores[evaluated], merged]),
                np.r_[sims[evaluated], np.array(list(groups), dtype=np.float32)],
                np.r_[np.zeros(len(evaluated), dtype=bool), np.ones(len(groups), dtype=bool)])

    def _evaluated(self, dataset_ids: tuple[int, ...] | None) -> np.ndarray:
        field_rows = np.array([self.rows[pid] for pid in self.field_rows], dtype=np.int64)
        keep = np.ones(len(self.scores), dtype=bool) if dataset_ids is None else np.isin(self.datasets, dataset_ids)
        keep[field_rows] = False
        return self.scores[keep]

    def neighbourhood(self, prompt_ids: list[int], llm_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Scores and costs of these models on these prompts (NaN where unknown)."""
        rows = np.array([self.rows.get(pid, -1) for pid in prompt_ids], dtype=np.int64)
        cols = np.array([self.columns.get(mid, -1) for mid in llm_ids], dtype=np.int64)
        scores = np.full((len(rows), len(cols)), np.nan, dtype=np.float32)
        costs = np.full_like(scores, np.nan)
        known_rows, known_cols = rows >= 0, cols >= 0
        if known_rows.any() and known_cols.any():
            grid = np.ix_(rows[known_rows], cols[known_cols])
            target = np.ix_(np.flatnonzero(known_rows), np.flatnonzero(known_cols))
            scores[target] = self.scores[grid]
            costs[target] = self.costs[grid]
        return scores, costs


def _links(scores: np.ndarray) -> np.ndarray:
    known = ~np.isnan(scores)
    values = np.where(known, scores, 0.0).astype(np.float64)
    links = np.full((scores.shape[1], 2, scores.shape[1]), np.nan)
    for outcome, rows in enumerate((known & (scores < 0.5), known & (scores >= 0.5))):
        # [a, b]: sum of b's scores, and count of b's results, on prompts where a had this outcome
        total = rows.T.astype(np.float64) @ values
        count = rows.T.astype(np.float64) @ known.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            links[:, outcome, :] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return links


def _load_evidence(dimension: str = Dimension.ACCURACY) -> Evidence:
    data = list(EvaluationResult.objects.filter(dimension=dimension, prompt__split="train").values_list(
        "prompt_id", "llm_id", "score", "cost_usd", "prompt__dataset__source_format", "prompt__dataset_id"))
    rows = {pid: i for i, pid in enumerate(sorted({d[0] for d in data}))}
    columns = {mid: j for j, mid in enumerate(sorted({d[1] for d in data}))}
    scores = np.full((len(rows), len(columns)), np.nan, dtype=np.float32)
    costs = np.full_like(scores, np.nan)
    if data:
        r = np.array([rows[d[0]] for d in data])
        c = np.array([columns[d[1]] for d in data])
        scores[r, c] = [d[2] for d in data]
        costs[r, c] = [d[3] for d in data]
    datasets = np.zeros(len(rows), dtype=np.int64)
    if data:
        datasets[r] = [d[5] for d in data]
    return Evidence(rows, columns, scores, costs, frozenset(d[0] for d in data if d[4] == FIELD_FORMAT),
                    {d[0]: d[5] for d in data}, datasets)


def _generation() -> tuple[object, ...]:
    datasets = Dataset.objects.aggregate(n=Count("id"), changed=Max("updated_at"))
    models = LLM.objects.aggregate(n=Count("id"), changed=Max("updated_at"))
    profiles = PreferenceProfile.objects.aggregate(n=Count("id"), changed=Max("updated_at"))
    pools = Cohort.allowed_models.through.objects.aggregate(n=Count("id"), last=Max("id"), total=Sum("llm_id"))
    return (datasets["n"], datasets["changed"], models["n"], models["changed"], profiles["n"], profiles["changed"],
            pools["n"], pools["last"], pools["total"])


def _load(generation: tuple[object, ...]) -> Snapshot:
    models = {m.id: m for m in LLM.objects.select_related("provider")}
    priors: dict[tuple[int, int | None, str], Prior] = {}
    dataset_models: dict[int, set[int]] = defaultdict(set)
    mean_cost: dict[tuple[int, int | None], float] = {}
    pooled: dict[tuple[int, str], list[tuple[float, int]]] = defaultdict(list)
    vectors: dict[tuple[int, int | None], np.ndarray] = {}
    audiences = _audiences()
    field_datasets = frozenset(Dataset.objects.filter(source_format=FIELD_FORMAT).values_list("id", flat=True))
    # A cohort's own field evidence is read only by its requests (as neighbours, and in the priors
    # of their scope: Snapshot.own_field_datasets): not pooled for all.
    for profile in ModelProfile.objects.accuracy().filter(domain="", dataset_id__in=audiences):
        priors[(profile.llm_id, profile.dataset_id, profile.task_type)] = Prior(profile.mean_score, profile.n,
                                                                                "evaluations")
    for profile in ModelProfile.objects.accuracy().filter(domain="").exclude(dataset_id__in=audiences):
        if profile.embedding is not None:
            vectors[(profile.llm_id, profile.dataset_id)] = np.asarray(profile.embedding, dtype=np.float32)
        priors[(profile.llm_id, profile.dataset_id, profile.task_type)] = Prior(profile.mean_score, profile.n,
                                                                                "evaluations")
        # Shared feedback is pooled in per request (Snapshot._lookup_prior), not into the record
        # of every dataset, where the task filter would count it as an evaluation.
        if profile.dataset_id not in field_datasets:
            pooled[(profile.llm_id, profile.task_type)].append((profile.mean_score, profile.n))
        if profile.task_type == "":
            dataset_models[profile.dataset_id].add(profile.llm_id)
            mean_cost[(profile.llm_id, profile.dataset_id)] = profile.mean_cost_usd
    for (llm_id, task_type), items in pooled.items():
        total = sum(n for _, n in items)
        priors[(llm_id, None, task_type)] = Prior(sum(q * n for q, n in items) / total, total, "evaluations")
    _feedback_residuals(priors, field_datasets)
    estimates = _benchmark_priors(list(models.values()), priors)
    for llm_id, _ds in list(vectors):
        same = [v for (other, _), v in vectors.items() if other == llm_id]
        vectors[(llm_id, None)] = np.mean(same, axis=0)
    dimension_priors, dimension_datasets = _dimension_profiles(dataset_models)
    profiles, broken_profiles = _profiles()
    pools: dict[int, set[int]] = defaultdict(set)
    for cohort_id, llm_id in Cohort.allowed_models.through.objects.values_list("cohort_id", "llm_id"):
        pools[cohort_id].add(llm_id)
    costs_by_model: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for (llm_id, dataset_id), cost in mean_cost.items():
        if dataset_id is not None:
            costs_by_model[llm_id].append((dataset_id, cost))
    return Snapshot(generation, models, priors, dict(dataset_models), mean_cost, profiles, broken_profiles, estimates,
                    {k: frozenset(v) for k, v in pools.items()}, dict(costs_by_model), vectors, audiences,
                    field_datasets,
                    dimension_priors, dimension_datasets, dict(Dataset.objects.values_list("id", "name")))


def _dimension_profiles(dataset_models: dict[int, set[int]]) -> tuple[dict[tuple[str, int, int], Prior],
                                                                       dict[str, frozenset[int]]]:
    """Each model's overall mean per non-accuracy dimension and dataset; the datasets measuring
    each dimension. Their models join `dataset_models`, so a request scoped to such a dataset
    (the evaluation harness) weighs them."""
    priors: dict[tuple[str, int, int], Prior] = {}
    datasets: dict[str, set[int]] = defaultdict(set)
    for dimension, llm_id, dataset_id, mean, n in ModelProfile.objects.exclude(dimension=Dimension.ACCURACY).filter(
            task_type="", domain="").values_list("dimension", "llm_id", "dataset_id", "mean_score", "n"):
        priors[(dimension, llm_id, dataset_id)] = Prior(mean, n, "evaluations")
        datasets[dimension].add(dataset_id)
        dataset_models[dataset_id].add(llm_id)
    return priors, {dimension: frozenset(ids) for dimension, ids in datasets.items()}


def _feedback_residuals(priors: dict[tuple[int, int | None, str], Prior], field_datasets: frozenset[int]) -> None:
    """Attach to the field datasets' priors the mean of (rating - expected) of their ratings."""
    groups = EvaluationResult.objects.accuracy().filter(
        prompt__dataset_id__in=field_datasets, expected_score__isnull=False).values_list(
        "llm_id", "prompt__dataset_id", "prompt__task_type").annotate(
        n=Count("id"), residual=Avg(F("score") - F("expected_score")))
    overall: dict[tuple[int, int], list[tuple[float, int]]] = defaultdict(list)
    for llm_id, dataset_id, task_type, n, residual in groups:
        overall[(llm_id, dataset_id)].append((residual, n))
        if (llm_id, dataset_id, task_type) in priors:
            priors[(llm_id, dataset_id, task_type)].residual = residual
            priors[(llm_id, dataset_id, task_type)].residual_n = n
    for (llm_id, dataset_id), items in overall.items():
        if (llm_id, dataset_id, "") in priors:
            total = sum(n for _, n in items)
            priors[(llm_id, dataset_id, "")].residual = sum(r * n for r, n in items) / total
            priors[(llm_id, dataset_id, "")].residual_n = total


def _pooled(found: list[Prior]) -> Prior:
    total = sum(p.n for p in found)
    quality = sum(p.quality * p.n for p in found) / total if total else found[0].quality
    return Prior(quality, total, found[0].source)


def _audiences() -> dict[int, str]:
    return {ds: audience for ds, audience in Dataset.objects.filter(source_format=FIELD_FORMAT).values_list(
        "id", "stats__audience") if audience}


def _profiles() -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Each profile's weights, and what is wrong with each one stored invalid: routing refuses
    that profile by name instead of failing to load (and so refusing every call)."""
    profiles, broken = {}, {}
    for profile in PreferenceProfile.objects.all():
        problems = weight_problems(profile.weights)
        if problems:
            broken[profile.name] = (f"profile {profile.name} has invalid weights ({'; '.join(problems)}); "
                                    "an administrator must correct them")
        else:
            profiles[profile.name] = profile.full_weights()
    return profiles, broken


def _benchmark_priors(models: list[LLM], priors: dict[tuple[int, int | None, str], Prior]) -> dict[tuple[int, str], Prior]:
    """Published benchmark figures stand in where no evaluation results exist (added to `priors`);
    returns the estimates for task types a model has no comparable figure for."""
    evaluated = {llm_id for llm_id, _, _ in priors}
    estimates = {}
    figures = [figure for llm in models for figure in figures_of(llm)]
    for (llm_id, task_type), found in benchmark_priors(figures).items():
        prior = Prior(found.quality, 0, found.source)
        if found.measured or not task_type:
            priors.setdefault((llm_id, None, task_type), prior)
        elif llm_id not in evaluated:
            estimates[(llm_id, task_type)] = prior
    return estimates


def _mean_of_known(rows: np.ndarray) -> np.ndarray:
    """Column means over the rows' non-NaN values; NaN where a column has none (without the
    warning np.nanmean gives there)."""
    known = ~np.isnan(rows)
    counts = known.sum(axis=0)
    return np.where(counts > 0, np.where(known, rows, 0.0).sum(axis=0) / np.maximum(counts, 1), np.nan)


# The registry as routing reads it; `snapshots.get(fresh=True)` checks the registry now.
snapshots: VersionedCache[Snapshot] = VersionedCache(
    version=_generation, load=lambda generation, _previous: _load(cast(tuple[object, ...], generation)),
    recheck_seconds=REFRESH_SECONDS)

