"""Choosing a batch's model: a representative sample, the candidates judged on it, a proposal.

The batch is embedded and clustered, and about SAMPLE_SHARE of it is drawn stratified by
cluster, so the sample looks like the batch and not like its most common kind of request. The
candidates are then judged on the sample in one of two modes:

- `evidence`: every sampled request goes through the registry's evidence as routing does
  (routing.pipeline), and each candidate's expected quality and cost are averaged over the
  sample, with an interval;
- `graded`: the best TOP_N candidates by that evidence answer the sample and the answers are
  graded (routing.batches.grading), in rounds; grading stops early once the interval of the
  best candidate's objective clears every other candidate's.

Either way the proposal is the candidate with the best objective, the batch's preference
weights over quality and cost. The same code chooses for `batch_regret`, with a grader that
looks up recorded scores instead of calling models.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from django.conf import settings
from sklearn.cluster import KMeans

from optiroute.api_errors import OptiRouteError
from registry.embedder import get_embedder
from registry.models import LLM
from registry.services import FieldOutcome, field_evidence_record
from registry.tokens import estimate_tokens
from routing.access.budgets import budget_left, usage_build
from routing.analysis.text import routing_text
from routing.batches.grading import DEFAULT_RUBRIC, judge_messages, judge_score, reference_grade
from routing.engine.preferences import preferences_resolve
from routing.engine.request import Candidate, Request, Strategy
from routing.engine.snapshot import Snapshot, snapshots
from routing.gateway.chat import PROFILE_PREFIX, named_model_for_cohort
from routing.inference.chain import AllProvidersFailed, Chain, complete
from routing.inference.providers import ChatCall, unusable_reason
from routing.models import Batch, Decision
from routing.pipeline import constraints_for, estimates_for, request_build, strategy_get
from routing.recorder import recorder

SAMPLE_SHARE = 0.02
MIN_SAMPLE = 20
CLUSTER_FLOOR = 2  # sampled rows per cluster at least (or the whole cluster)
ROWS_PER_CLUSTER = 400  # k grows as sqrt(batch size / this), between 1 and MAX_CLUSTERS
MAX_CLUSTERS = 12
Z = 1.96  # two-sided 95% intervals
TOP_N = 4  # 3 missed the best model of a task on llmrouter (regret 0.028 with quality-first); 4 did not
ROUNDS = 4
MIN_GRADED_TO_STOP = 10  # rows graded before an interval may stop the grading

MODES = ("evidence", "graded")
Grader = Callable[[int, LLM], tuple[float, float]]  # (sampled row, model) -> (score 0..1, cost in USD)


# ------------------------------------------------------------------ the sample


@dataclass
class Sample:
    labels: np.ndarray  # the cluster of every row of the batch
    positions: list[int]  # the sampled rows, in grading order (round robin over the clusters)

    @property
    def population(self) -> int:
        return len(self.labels)

    def cluster_sizes(self) -> list[int]:
        return [int(n) for n in np.bincount(self.labels)]

    def weights(self, positions: Sequence[int]) -> np.ndarray:
        """Each row's share of its cluster among `positions`: a stratified mean weighs a cluster by
        its size in the batch, not by how many of its rows were drawn (the floor over-draws small ones)."""
        sizes = np.bincount(self.labels)
        drawn = np.bincount(self.labels[list(positions)], minlength=len(sizes))
        return np.array([sizes[self.labels[p]] / drawn[self.labels[p]] for p in positions], dtype=float)

    def as_dict(self) -> dict[str, Any]:
        sampled = np.bincount(self.labels[self.positions], minlength=len(self.cluster_sizes()))
        return {"clusters": [{"cluster": i, "size": size, "sampled": int(sampled[i])}
                             for i, size in enumerate(self.cluster_sizes())],
                "sample_positions": sorted(self.positions)}


def cluster_count(rows: int) -> int:
    return max(1, min(MAX_CLUSTERS, round(math.sqrt(rows / ROWS_PER_CLUSTER))))


def sample_size(rows: int) -> int:
    return min(rows, max(MIN_SAMPLE, math.ceil(SAMPLE_SHARE * rows)))


def sample_draw(vectors: np.ndarray, *, seed: str, eligible: np.ndarray | None = None) -> Sample:
    """Cluster the rows' embeddings and draw a stratified sample, the same for the same seed.

    `eligible` (a boolean mask) limits the draw to some rows, e.g. those with a reference answer;
    the clusters and their sizes are still the whole batch's."""
    rows = len(vectors)
    # A batch of the same few requests repeated has no more clusters than distinct requests.
    k = min(cluster_count(rows), len(np.unique(vectors, axis=0)))
    rng = random.Random(seed)
    if k > 1:
        # Full k-means, not mini-batch: mini-batches lose a small, distinct cluster in a big one,
        # and a batch of 10,000 rows clusters in about a second either way.
        kmeans = KMeans(n_clusters=k, random_state=rng.randrange(2**31), n_init=3)
        labels = kmeans.fit_predict(np.asarray(vectors, dtype=np.float32))
        labels = _relabel_by_size(labels)
    else:
        labels = np.zeros(rows, dtype=int)
    pool = np.arange(rows) if eligible is None else np.flatnonzero(eligible)
    by_cluster = {c: sorted(int(p) for p in pool[labels[pool] == c]) for c in range(int(labels.max()) + 1)}
    quota = _quotas({c: len(members) for c, members in by_cluster.items()}, sample_size(len(pool)))
    drawn = {c: rng.sample(by_cluster[c], quota[c]) for c in by_cluster}
    order: list[int] = []
    for i in range(max(quota.values(), default=0)):  # round robin: every round of grading sees every cluster
        order.extend(drawn[c][i] for c in sorted(drawn) if i < len(drawn[c]))
    return Sample(labels=labels, positions=order)


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Cluster 0 the largest, and no empty cluster numbers."""
    counts = np.bincount(labels)
    order = [c for c in np.argsort(-counts, kind="stable") if counts[c]]
    mapping = {int(old): new for new, old in enumerate(order)}
    return np.array([mapping[int(c)] for c in labels], dtype=int)


def _quotas(sizes: dict[int, int], total: int) -> dict[int, int]:
    """Proportional to the clusters' sizes, CLUSTER_FLOOR at least, never more than a cluster holds."""
    rows = sum(sizes.values()) or 1
    return {c: min(size, max(CLUSTER_FLOOR, round(total * size / rows))) for c, size in sizes.items()}


# ------------------------------------------------------------------ judging candidates


@dataclass
class Judged:
    """One candidate on the sample: a score (an estimate or a grade) and a cost per sampled row."""

    llm: LLM
    scores: dict[int, float] = field(default_factory=dict)
    costs: dict[int, float] = field(default_factory=dict)
    candidate: Candidate | None = None  # routing's estimate for one sampled row, for the fallback chain

    def quality(self, sample: Sample) -> tuple[float, float, float]:
        return interval([self.scores[p] for p in self.scores], sample.weights(list(self.scores)),
                        population=sample.population)

    def cost(self, sample: Sample) -> float:
        if not self.costs:
            return 0.0
        return float(np.average(list(self.costs.values()), weights=sample.weights(list(self.costs))))


def interval(values: Sequence[float], weights: np.ndarray, *, population: int) -> tuple[float, float, float]:
    """A weighted mean of scores in [0, 1] with a Wilson-type 95% interval.

    Wilson's form keeps the interval inside [0, 1] and wide when every score is 1 (a normal
    interval would shrink to nothing). The variance is p(1 - p) for 0/1 scores, the sample's
    otherwise; n is Kish's effective size of the weighted sample, and a sample that is much of
    the batch is corrected for it (what matters is the batch's quality, not a population's)."""
    if not len(values):
        return 0.0, 0.0, 1.0
    x = np.asarray(values, dtype=float)
    mean = float(np.average(x, weights=weights))
    n = float(weights.sum() ** 2 / (weights ** 2).sum())
    binary = bool(np.all((x == 0) | (x == 1)))
    spread = float(np.average((x - mean) ** 2, weights=weights)) * n / max(n - 1, 1)
    variance = mean * (1 - mean) if binary else spread
    correction = max(0.0, (population - len(x)) / max(population - 1, 1))
    if correction == 0.0:
        return mean, mean, mean
    n /= correction
    centre = (mean + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(variance / n + Z * Z / (4 * n * n))
    return mean, max(0.0, min(mean, centre - half)), min(1.0, max(mean, centre + half))


def evidence_judge(requests: dict[int, Request], snapshot: Snapshot, strategy: Strategy) -> dict[str, Judged]:
    """Every candidate's estimated quality and cost on each sampled request, from the registry's
    evidence as routing estimates it."""
    judged: dict[str, Judged] = {}
    for position, request in requests.items():
        for candidate in estimates_for(request, snapshot, strategy).candidates:
            entry = judged.setdefault(candidate.llm.name, Judged(candidate.llm, candidate=candidate))
            entry.scores[position] = candidate.quality
            entry.costs[position] = candidate.cost_usd
    # A candidate the evidence left out for some rows (a context window too small) is judged on
    # the rows it can take; its interval is the wider for it.
    return judged


# ------------------------------------------------------------------ the objective and the proposal


@dataclass(frozen=True)
class Objective:
    """The batch's preferences over quality and cost: (a * quality + c * (1 - cost / reference)) / (a + c).

    The cost term is linear in dollars against the priciest candidate's cost per row, as
    routing.engine.scoring scores a single request; latency and the other sliders weigh rows
    one by one, not a batch that runs offline."""

    accuracy: float
    cost: float
    reference_cost: float

    @classmethod
    def of(cls, weights: dict[str, float], reference_cost: float) -> Objective:
        accuracy, cost = weights.get("accuracy", 0.0), weights.get("cost", 0.0)
        if accuracy + cost <= 0:
            accuracy = 1.0
        return cls(accuracy, cost, reference_cost or 1.0)

    def __call__(self, quality: float, cost: float) -> float:
        return (self.accuracy * quality + self.cost * (1 - cost / self.reference_cost)) / (self.accuracy + self.cost)

    def as_dict(self) -> dict[str, float]:
        return {"accuracy": self.accuracy, "cost": self.cost, "reference_cost_usd": self.reference_cost}


@dataclass
class Verdict:
    ranking: list[str]  # candidates best first by the objective's point estimate
    table: dict[str, dict[str, Any]]
    separated: bool  # the best's objective interval lies above every other's

    @property
    def best(self) -> str:
        return self.ranking[0]


def verdict(judged: dict[str, Judged], sample: Sample, objective: Objective) -> Verdict:
    table: dict[str, dict[str, Any]] = {}
    bounds: dict[str, tuple[float, float, float]] = {}
    for name, entry in judged.items():
        quality, low, high = entry.quality(sample)
        cost = entry.cost(sample)
        bounds[name] = (objective(quality, cost), objective(low, cost), objective(high, cost))
        table[name] = {"quality": round(quality, 4), "interval": [round(low, 4), round(high, 4)],
                       "cost_per_row_usd": cost, "objective": round(bounds[name][0], 4), "rows": len(entry.scores)}
    ranking = sorted(bounds, key=lambda n: (-bounds[n][0], table[n]["cost_per_row_usd"], n))
    separated = len(ranking) == 1 or all(bounds[ranking[0]][1] > bounds[other][2] for other in ranking[1:])
    return Verdict(ranking, table, separated)


def top_candidates(judged: dict[str, Judged], sample: Sample, objective: Objective, n: int) -> list[LLM]:
    """The n best candidates by the evidence's verdict."""
    ranking = verdict(judged, sample, objective).ranking
    return [judged[name].llm for name in ranking[:n]]


@dataclass
class Graded:
    judged: dict[str, Judged]
    verdict: Verdict
    rounds: int
    graded_rows: int
    sample_cost_usd: float
    early_stop: str  # why grading stopped before the whole sample; '' when it did not


def graded_judge(sample: Sample, candidates: list[LLM], grader: Grader, objective: Objective,
                 *, rounds: int = ROUNDS) -> Graded:
    """Grade the candidates' answers on the sample in rounds; stop once the best is separated."""
    judged = {llm.name: Judged(llm) for llm in candidates}
    size = math.ceil(len(sample.positions) / rounds)
    spent = 0.0
    done = 0
    current = Verdict([llm.name for llm in candidates], {}, separated=False)
    for number in range(1, rounds + 1):
        batch = sample.positions[(number - 1) * size:number * size]
        if not batch:
            break
        for position in batch:
            for llm in candidates:
                score, cost = grader(position, llm)
                judged[llm.name].scores[position] = score
                judged[llm.name].costs[position] = cost
                spent += cost
        done += len(batch)
        current = verdict(judged, sample, objective)
        if current.separated and done >= MIN_GRADED_TO_STOP and done < len(sample.positions):
            note = (f"stopped after round {number} of {rounds} ({done} of {len(sample.positions)} sampled rows "
                    f"graded): the interval of {current.best}'s objective already lies above every other candidate's")
            return Graded(judged, current, number, done, spent, note)
    return Graded(judged, current, rounds, done, spent, "")


def per_cluster_best(judged: dict[str, Judged], sample: Sample, objective: Objective) -> dict[int, str]:
    """The best candidate on each cluster's sampled rows (one model per cluster, when the batch allows it)."""
    best: dict[int, str] = {}
    for cluster in range(len(sample.cluster_sizes())):
        rows = [p for p in sample.positions if sample.labels[p] == cluster]
        scoped = {name: Judged(entry.llm, {p: entry.scores[p] for p in rows if p in entry.scores},
                               {p: entry.costs[p] for p in rows if p in entry.costs})
                  for name, entry in judged.items()}
        scoped = {name: entry for name, entry in scoped.items() if entry.scores}
        if scoped:
            best[cluster] = verdict(scoped, sample, objective).best
    return best


# ------------------------------------------------------------------ a batch's choice


@dataclass
class Selection:
    ranking: list[Candidate]  # the proposal first, then the other candidates best first (the fallbacks)
    sample_size: int
    choice: dict[str, Any]  # what Batch.choice stores
    labels: np.ndarray  # every row's cluster, by position
    answers: dict[tuple[int, str], SampleAnswer] = field(default_factory=dict)  # graded: (row, model) -> answer


@dataclass(frozen=True)
class SampleAnswer:
    """A candidate's answer to a sampled row, billed when grading: the row's answer if that model answers it."""

    content: str
    decision: Decision
    input_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass(frozen=True)
class SelectionOptions:
    """The batch's `optiroute.selection` object."""

    mode: str = "evidence"
    top_n: int = TOP_N
    references: dict[str, str] = field(default_factory=dict)  # custom_id -> the expected answer
    judge: str = ""  # a registered model that grades by `rubric` instead of (or beside) the references
    rubric: str = ""
    per_cluster: bool = False

    @classmethod
    def of(cls, options: dict[str, Any]) -> SelectionOptions:
        raw = options.get("selection") or {}
        return cls(mode=raw.get("mode") or "evidence", top_n=int(raw.get("top_n") or TOP_N),
                   references={str(k): str(v) for k, v in (raw.get("references") or {}).items()},
                   judge=raw.get("judge") or "", rubric=raw.get("rubric") or "",
                   per_cluster=bool(raw.get("per_cluster")))


def batch_select(*, batch: Batch) -> Selection:
    """Draw the batch's sample, judge the candidates on it as the batch asks, propose a model."""
    rows = list(batch.items.order_by("position").values_list("custom_id", "messages", "reference"))
    items = [(custom_id, messages) for custom_id, messages, _ in rows]
    options = SelectionOptions.of(batch.options)
    # Reference answers: stored with their rows (the API's `reference`, a CSV's column), or in the options.
    chosen = replace(options, references={**{c: r for c, _, r in rows if r}, **options.references})
    said = [routing_text(messages) for _, messages in items]
    eligible = None
    if chosen.mode == "graded" and not chosen.judge:
        eligible = np.array([custom_id in chosen.references for custom_id, _ in items])
        if not eligible.any():
            raise OptiRouteError("graded selection needs reference answers for some of the batch's requests "
                                 "(selection.references, by custom_id) or a judge model (selection.judge)")
    sample = sample_draw(get_embedder().encode([s.latest for s in said]), seed=str(batch.pk), eligible=eligible)
    profile = batch.model[len(PROFILE_PREFIX):]
    _, weights = preferences_resolve(profile=None if profile == "auto" else profile,
                                     overrides=batch.options.get("preferences"), cohort=batch.cohort)
    constraints = constraints_for(batch.options.get("constraints"), batch.cohort)
    requests = {p: request_build(text=said[p].latest, context=said[p].context, tokens=said[p].tokens,
                                 constraints=constraints, cohort=batch.cohort,
                                 output_tokens=batch.options.get("max_output_tokens"))[0]
                for p in sample.positions}
    evidence = evidence_judge(requests, snapshots.get(), strategy_get(batch.options.get("strategy")))
    objective = Objective.of(weights, max(entry.cost(sample) for entry in evidence.values()))
    by_evidence = verdict(evidence, sample, objective)
    details: dict[str, Any] = {"mode": chosen.mode, **sample.as_dict(),
                               "sample_ids": [items[p][0] for p in sample.positions],
                               "objective": objective.as_dict(), "evidence": by_evidence.table}
    answers: dict[tuple[int, str], SampleAnswer] = {}
    if chosen.mode != "graded":
        final, judged, sample_cost = by_evidence, evidence, 0.0  # routing the sample calls no model
        details["interval_of"] = ("routing's estimates on the sample: how sure the evidence is across the batch, "
                                  "not a measured quality (graded mode measures it)")
    else:
        graded, sample_cost, answers = _graded(batch, chosen, items, requests, evidence, sample, objective, details)
        final, judged = graded.verdict, graded.judged
    for name, row in final.table.items():
        # The rows a candidate answered in the sample keep that answer if it is chosen: not paid twice.
        reused = sum(1 for _, model in answers if model == name)
        row["projected_cost_usd"] = round(row["cost_per_row_usd"] * (batch.total - reused) + sample_cost, 8)
    best = final.table[final.best]
    details.update(candidates=final.table, sample_cost_usd=round(sample_cost, 8), proposal={
        "model": final.best, "expected_quality": best["quality"], "interval": best["interval"],
        "projected_cost_usd": best["projected_cost_usd"], "sample_cost_usd": round(sample_cost, 8)})
    if chosen.per_cluster:
        details["per_cluster"] = {str(c): name for c, name in per_cluster_best(judged, sample, objective).items()}
    order = final.ranking + [name for name in by_evidence.ranking if name not in final.table]
    return Selection(_fallback_order(order, evidence, judged, sample), len(sample.positions), details, sample.labels,
                     answers)


def _graded(batch: Batch, chosen: SelectionOptions, items: list[tuple[str, list[dict[str, Any]]]],
            requests: dict[int, Request], evidence: dict[str, Judged], sample: Sample, objective: Objective,
            details: dict[str, Any]) -> tuple[Graded, float, dict[tuple[int, str], SampleAnswer]]:
    """Grade the best candidates by evidence that can be called; the grades become registry evidence."""
    callable_ = {name: entry for name, entry in evidence.items() if not unusable_reason(entry.llm)}
    if not callable_:
        raise OptiRouteError("graded selection needs a candidate that can be called; none of "
                             + ", ".join(sorted(evidence)) + " can")
    grader = LiveGrader(batch=batch, items=items, task_types={p: r.task_type for p, r in requests.items()},
                        options=chosen)
    graded = graded_judge(sample, top_candidates(callable_, sample, objective, chosen.top_n), grader, objective)
    details.update(rounds=graded.rounds, graded_rows=graded.graded_rows, early_stop=graded.early_stop,
                   evidence_dataset=grader.record_evidence(graded.judged, requests))
    return graded, graded.sample_cost_usd + grader.judge_spent, grader.answers


def _fallback_order(order: list[str], evidence: dict[str, Judged], judged: dict[str, Judged],
                    sample: Sample) -> list[Candidate]:
    ranking = []
    for name in order:
        candidate = evidence[name].candidate
        assert candidate is not None  # evidence_judge sets one for every candidate
        candidate.cost_usd = (judged.get(name) or evidence[name]).cost(sample)
        ranking.append(candidate)
    return ranking


class LiveGrader:
    """Ask a candidate the sampled request, bill the call, grade the answer."""

    def __init__(self, *, batch: Batch, items: list[tuple[str, list[dict[str, Any]]]], task_types: dict[int, str],
                 options: SelectionOptions) -> None:
        self.batch, self.items, self.task_types, self.options = batch, items, task_types, options
        self.judge = named_model_for_cohort(options.judge, batch.cohort) if options.judge else None
        self.judge_spent = 0.0
        self.answers: dict[tuple[int, str], SampleAnswer] = {}
        # Each row's answer is as long as the batch will let it be, so that it can stand as the row's answer.
        self.max_tokens = dict(batch.items.exclude(max_tokens=None).values_list("position", "max_tokens"))

    def __call__(self, position: int, llm: LLM) -> tuple[float, float]:
        custom_id, messages = self.items[position]
        limit = self.max_tokens.get(position) or self.batch.max_tokens or self.batch.options.get("max_output_tokens")
        try:
            sample_answer = self._ask(llm, messages, f"sample row {custom_id}", max_tokens=limit)
        except AllProvidersFailed:
            return 0.0, 0.0  # a candidate that cannot answer the sample has not earned the batch
        self.answers[position, llm.name] = sample_answer
        answer, cost = sample_answer.content, sample_answer.cost_usd
        reference = self.options.references.get(custom_id)
        if self.judge is None:
            assert reference is not None  # the sample is drawn from the rows with a reference
            return reference_grade(answer, reference, self.task_types.get(position, "")), cost
        judged = self._ask(self.judge, judge_messages(
            request=routing_text(messages).latest, answer=answer, reference=reference,
            rubric=self.options.rubric or DEFAULT_RUBRIC), f"judging {llm.name} on sample row {custom_id}",
            max_tokens=self.batch.options.get("max_output_tokens"))
        self.judge_spent += judged.cost_usd
        score = judge_score(judged.content)
        if score is None and reference is not None:
            score = reference_grade(answer, reference, self.task_types.get(position, ""))
        return score or 0.0, cost

    def _ask(self, llm: LLM, messages: list[dict[str, Any]], what: str, *, max_tokens: int | None) -> SampleAnswer:
        batch = self.batch
        assert batch.api_key is not None
        budget_left(batch.cohort)  # the sample is paid like the batch: a spent budget stops it (429)
        chain = Chain(models=[llm])
        completion, _ = complete(chain, ChatCall(model_id="", messages=messages,
                                                 max_tokens=max_tokens,
                                                 timeout_s=settings.LLM_CALL_TIMEOUT_S))
        tokens = routing_text(messages).tokens
        decision = Decision(mode=Decision.Mode.BATCH, api_key=batch.api_key, cohort=batch.cohort, chosen_model=llm,
                            answered_by=llm, strategy="batch-sample", profile=batch.model, analysis={"tokens": tokens},
                            attempts=chain.attempts, explanation=f"Batch {batch.pk}: {what}, to choose its model.")
        usage = usage_build(decision=decision, api_key=batch.api_key, llm=llm,
                            input_tokens=completion.input_tokens or tokens,
                            output_tokens=completion.output_tokens or estimate_tokens(completion.content))
        recorder.write_now([(decision, usage)])
        return SampleAnswer(completion.content, decision, usage.input_tokens, usage.output_tokens, usage.cost_usd)

    def record_evidence(self, judged: dict[str, Judged], requests: dict[int, Request]) -> str:
        """The grades as registry evidence (batch-<id>): later batches and interactive routing read them."""
        name = f"batch-{self.batch.pk}"
        outcomes = [FieldOutcome(key=self.items[p][0], embedding=requests[p].vector, llm_id=entry.llm.id,
                                 score=score, cost_usd=entry.costs.get(p, 0.0), task_type=requests[p].task_type,
                                 domain=requests[p].domain)
                    for entry in judged.values() for p, score in entry.scores.items()]
        cohort = self.batch.cohort
        field_evidence_record(dataset_name=name, outcomes=outcomes,
                              audience="" if cohort.shares_feedback else f"cohort:{cohort.pk}")
        return name
