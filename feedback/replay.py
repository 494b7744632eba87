"""The feedback replay: does routing keep learning from thumbs up and down?

A seeded share of a dataset's train prompts is the starting evidence; the other train prompts
come back as live traffic, round after round. Each is routed as the API routes it (profile
`balanced`, exploration on), answered in simulation by the chosen model's recorded train
result, rated up (score >= 0.5) or down through `feedback_record`, and folded by the workers'
task. After each round the test split is routed on the starting evidence plus the folded
feedback and scored as `evaluate_router` scores it. Train labels drive the simulated users;
test labels only score.

Simulated users: one per traffic prompt, each with an API key of the replay's cohort (the key
rates the decisions made with it, as the feedback API allows). A user asks their prompt once a
round, so the rater cap (FEEDBACK_RATER_CAP ratings per rater, model and task type) bounds
each user as it bounds a person, while the cohort's feedback as a whole counts. A pool of a few
users would make the cap drop nearly all of it: the cap exists against one user's clicks, not a
cohort's.

The estimate's form: evidence rows, chosen by this replay. A rated decision is one train row of
the cohort's field dataset (its embedding, its answering model's score, and what the evaluations
alone led routing to expect of that model there). Routing reads it in two ways:
- as a neighbour of the requests it resembles, searched apart from the evaluations and weighed
  against their closest prompt (pipeline.evidence_gather, quality.neighbour_estimate), with the
  other models' scores on it filled in from how their outcomes go with the rated model's in the
  evaluations (Evidence.imputed): a prompt one model fails is often one the others fail too;
- as a correction of the model's task-level record by the rating's surprise (rating minus
  expectation), not its level, and only as far as neighbours do not carry the estimate
  (strategies.feedback_weight).
What the replays showed: rated answers searched together with the evaluations pushed evaluated
prompts out of the neighbours; closer rated answers lowered the weight of the evaluated ones for
every model nobody rated; rated answers that scored only their own model made it look worse than
every unrated model on the prompts everyone fails (LLMRouter's AIQ fell after each round); and
ratings pooled by level into the records overstated them (a model is rated where it looked good),
as did ratings counted by the task filter as evaluations of the first models chosen. A posterior
per model, task type and domain would be the task-level record again, without the local
evidence LLMRouter's neighbours carry. README (Feedback replay) has the curves.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.test import override_settings

from feedback.models import Feedback
from feedback.services import evidence_dataset_for, feedback_record
from feedback.tasks import feedback_fold_task
from optiroute.api_errors import OptiRouteError
from registry.models import Dataset, EvaluationResult, Prompt
from registry.services import field_evidence_record, profiles_compute
from routing.evaluation.harness import curve
from routing.models import ApiKey, Cohort, Decision, Usage
from routing.pipeline import decision_make
from routing.recorder import recorder

PROFILE = "balanced"
DEFAULT_EXPLORATION = 0.2
PASS_SCORE = 0.5  # a simulated user gives a thumbs up at this recorded score or above

Progress = Callable[[str], None]
Labels = dict[int, dict[int, tuple[float, float]]]  # prompt id -> llm id -> (score, cost)


@dataclass
class Replay:
    dataset: Dataset
    start: Dataset  # the starting share of the train split
    field: Dataset  # where the cohort's feedback is folded
    cohort: Cohort
    traffic: list[Prompt]
    users: dict[int, ApiKey]  # traffic prompt id -> its simulated user's key
    labels: Labels  # the train split's recorded results: what the simulated users see

    @property
    def evidence_ids(self) -> tuple[int, ...]:
        return (self.start.pk, self.field.pk)


def replay_feedback(*, dataset_name: str, start_share: float = 0.1, rounds: int = 5, seed: int = 0,
                    exploration: float = DEFAULT_EXPLORATION, progress: Progress | None = None,
                    checkpoint: Callable[[dict[str, Any]], object] | None = None) -> dict[str, Any]:
    """Run the replay (module docstring) and return its report (CONTRACTS.md: replay_feedback);
    `checkpoint` receives the report so far after each round."""
    say = progress or (lambda _message: None)
    if not 0.0 < start_share < 1.0:
        raise OptiRouteError(f"--start-share must be between 0 and 1 (exclusive), got {start_share}")
    if rounds < 1:
        raise OptiRouteError(f"--rounds must be at least 1, got {rounds}")
    if not 0.0 <= exploration <= 0.5:
        raise OptiRouteError(f"--exploration must be between 0 and 0.5, got {exploration}")
    replay = replay_setup(dataset_name=dataset_name, start_share=start_share, seed=seed)
    say(f"{len(replay.labels) - len(replay.traffic)} train prompts as starting evidence, "
        f"{len(replay.traffic)} as traffic")
    report: dict[str, Any] = {"dataset": dataset_name, "start_share": start_share, "seed": seed,
                              "exploration_share": exploration, "users": len(replay.users),
                              "rater_cap": settings.FEEDBACK_RATER_CAP, "rounds": []}
    full = curve(dataset=replay.dataset, evidence_ids=(replay.dataset.pk,))
    report["full_evidence"] = {"aiq": full["aiq"], "quality_at_half_cost": full["quality_at_half_cost"]}
    say(f"{time.strftime('%H:%M:%S')} full evidence: {report['full_evidence']}")
    rng = random.Random(seed)
    feedback = explored = 0
    for number in range(rounds + 1):
        if number:
            rated, explored = round_play(replay, rng=rng, exploration=exploration)
            feedback += rated
        scored = curve(dataset=replay.dataset, evidence_ids=replay.evidence_ids)
        report["rounds"].append({
            "round": number, "feedback": feedback, "aiq": scored["aiq"],
            "quality_at_half_cost": scored["quality_at_half_cost"],
            "explored_share": round(explored / len(replay.traffic), 4) if number else 0.0,
            "field_evidence": replay.field.prompts.count()})
        say(f"{time.strftime('%H:%M:%S')} round {number}: {report['rounds'][-1]}")
        if checkpoint is not None:
            checkpoint(report)
    return report


def replay_setup(*, dataset_name: str, start_share: float, seed: int) -> Replay:
    """A fresh replay of this dataset: its starting evidence, cohort, users and empty field dataset
    (whatever an earlier replay of it left is removed first)."""
    dataset = Dataset.objects.filter(name=dataset_name).first()
    if dataset is None:
        raise OptiRouteError(f"unknown dataset {dataset_name!r}")
    train = list(Prompt.objects.train().filter(dataset=dataset).order_by("id"))
    if len(train) < 2 or not Prompt.objects.test().filter(dataset=dataset).exists():
        raise OptiRouteError(f"dataset {dataset_name!r} needs a test split and at least two train prompts")
    random.Random(seed).shuffle(train)
    cut = min(max(1, round(start_share * len(train))), len(train) - 1)
    name = f"replay-{dataset.name}"[:64]
    with transaction.atomic():
        _replay_forget(name)
        cohort = Cohort.objects.create(name=name, allows_exploration=True, learns_from_feedback=True,
                                       shares_feedback=False)
        start = _dataset_copy(dataset, name, train[:cut])
        field_name, audience = evidence_dataset_for(cohort)
        field = field_evidence_record(dataset_name=field_name, outcomes=[], audience=audience)
        users = _users(cohort, train[cut:])
    return Replay(dataset, start, field, cohort, train[cut:], users, _train_labels(dataset))


def _replay_forget(name: str) -> None:
    cohort = Cohort.objects.filter(name=name).first()
    if cohort is not None:
        Decision.objects.filter(cohort=cohort).delete()  # with their ratings and usage
        field_name, _ = evidence_dataset_for(cohort)
        Dataset.objects.filter(name=field_name).delete()
        cohort.delete()
    Dataset.objects.filter(name=name).delete()


def _dataset_copy(source: Dataset, name: str, prompts: list[Prompt]) -> Dataset:
    """A dataset of these train prompts of `source`, with their results and profiles."""
    copy = Dataset.objects.create(name=name, source_format="replay", content_hash="",
                                  stats={**source.stats, "train": len(prompts), "test": 0, "replay_of": source.name})
    copies = Prompt.objects.bulk_create([
        Prompt(dataset=copy, external_id=p.external_id, text=p.text, embedding=p.embedding, task_type=p.task_type,
               domain=p.domain, source_label=p.source_label, difficulty=p.difficulty, split=Prompt.Split.TRAIN)
        for p in prompts])
    new_id = {p.pk: c.pk for p, c in zip(prompts, copies, strict=True)}
    results = EvaluationResult.objects.filter(prompt_id__in=new_id)
    EvaluationResult.objects.bulk_create([
        EvaluationResult(prompt_id=new_id[r.prompt_id], llm_id=r.llm_id, dimension=r.dimension, score=r.score,
                         cost_usd=r.cost_usd, cost_estimated=r.cost_estimated, latency_ms=r.latency_ms,
                         input_tokens=r.input_tokens, output_tokens=r.output_tokens) for r in results])
    profiles_compute(dataset=copy)
    return copy


def _users(cohort: Cohort, traffic: list[Prompt]) -> dict[int, ApiKey]:
    keys = ApiKey.objects.bulk_create([
        ApiKey(cohort=cohort, label=f"simulated user {i}", hint="replay", hashed=ApiKey.hash(ApiKey.generate()))
        for i in range(len(traffic))])
    return {prompt.pk: key for prompt, key in zip(traffic, keys, strict=True)}


def _train_labels(dataset: Dataset) -> Labels:
    labels: Labels = {}
    for prompt_id, llm_id, score, cost in EvaluationResult.objects.accuracy().filter(
            prompt__dataset=dataset, prompt__split="train").values_list("prompt_id", "llm_id", "score", "cost_usd"):
        labels.setdefault(prompt_id, {})[llm_id] = (score, cost)
    return labels


def round_play(replay: Replay, *, rng: random.Random, exploration: float) -> tuple[int, int]:
    """Every traffic prompt once, in a seeded order: routed, answered, rated; then folded.
    Returns how many ratings were given and how many decisions explored."""
    order = list(replay.traffic)
    rng.shuffle(order)
    answered: list[tuple[Decision, Usage, int]] = []
    with override_settings(EXPLORATION_SHARE=exploration):
        for prompt in order:
            answer = _answer(replay, prompt, rng)
            if answer is not None:
                answered.append(answer)
    recorder.write_now([(decision, usage) for decision, usage, _ in answered])
    for decision, usage, rating in answered:
        feedback_record(api_key=usage.api_key, decision_id=decision.pk, rating=rating)  # type: ignore[arg-type]
    feedback_fold_task.apply()  # the task the workers run, in this process
    return len(answered), sum(decision.explored for decision, _, _ in answered)


def _answer(replay: Replay, prompt: Prompt, rng: random.Random) -> tuple[Decision, Usage, int] | None:
    """Route the prompt as its user's API call; the answer is the first model in the ranking
    with a recorded result (as the gateway falls back when a model cannot answer); its rating."""
    key = replay.users[prompt.pk]
    routed = decision_make(text=prompt.text, profile=PROFILE, cohort=replay.cohort, api_key=key,
                           mode=Decision.Mode.CHAT, save=False, dataset_ids=replay.evidence_ids, rng=rng)
    recorded = replay.labels.get(prompt.pk, {})
    answering = next((c.llm for c in routed.ranking if c.llm.pk in recorded), None)
    if answering is None:
        return None
    score, cost = recorded[answering.pk]
    decision = routed.decision
    decision.answered_by = answering
    usage = Usage(decision=decision, api_key=key, cohort=replay.cohort, llm=answering, cost_usd=cost)
    return decision, usage, Feedback.Rating.UP if score >= PASS_SCORE else Feedback.Rating.DOWN


def replay_plot(report: dict[str, Any], path: str) -> None:
    """AIQ and quality at half cost per round, with the full-evidence router as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [r["round"] for r in report["rounds"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((axes[0], "aiq", "AIQ"), (axes[1], "quality_at_half_cost", "quality at half cost")):
        values = [r[key] for r in report["rounds"]]
        ax.plot(rounds, values, marker="o", label="start share + feedback")
        full = report["full_evidence"][key]
        if full is not None:
            ax.axhline(full, color="grey", linestyle="--", label="whole train split")
        ax.set_xlabel("round (0: before any feedback)")
        ax.set_ylabel(label)
        ax.set_xticks(rounds)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{report['dataset']}: feedback replay from {report['start_share']:.0%} of the train split")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
