"""`batch_regret`: how well batch mode chooses, measured on a dataset's recorded results.

Each task type of the test split is a batch. Its sample is drawn and judged by the code batch
mode runs (routing.batches.selection); then, and only then, the whole batch's recorded scores
say which model was best for each profile in hindsight, and what the choice lost.

- mode `evidence`: the sample is routed with the train split as the only evidence;
- mode `graded`: no evidence of the batch's task type at all. The candidates are ranked by the
  train split's other task types, and the top ones are "graded" on the sample by looking up
  their recorded scores and costs there: nothing outside the sample is read before the choice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from optiroute.api_errors import OptiRouteError
from registry.models import LLM, Dataset, EvaluationResult, Prompt
from routing.analysis.training import analyzer_train
from routing.batches.selection import (
    MODES,
    TOP_N,
    Judged,
    Objective,
    Sample,
    evidence_judge,
    graded_judge,
    sample_draw,
    top_candidates,
    verdict,
)
from routing.engine.preferences import preferences_resolve
from routing.engine.snapshot import snapshots
from routing.engine.strategies import DEFAULT_STRATEGY, STRATEGIES
from routing.learning.estimator import estimator_train, estimators
from routing.pipeline import request_build

PROFILES = ("quality-first", "balanced", "cost-effective")

Labels = dict[int, dict[int, tuple[float, float]]]  # prompt id -> model id -> (score, cost)


@dataclass
class _Batch:
    task_type: str
    prompts: list[Prompt]
    sample: Sample


def batch_regret(*, dataset_name: str, mode: str = "graded", top_n: int = TOP_N) -> dict[str, Any]:
    if mode not in MODES:
        raise OptiRouteError(f"unknown mode {mode!r}; modes are {', '.join(MODES)}")
    dataset = Dataset.objects.filter(name=dataset_name).first()
    if dataset is None:
        raise OptiRouteError(f"unknown dataset {dataset_name!r}")
    batches = _batches(dataset)
    if not batches:
        raise OptiRouteError(f"dataset {dataset_name!r} has no test split")
    models = {m.id: m for m in LLM.objects.filter(results__prompt__dataset=dataset).distinct()}
    if mode == "evidence":
        analyzer_train()
        estimator_train()
        estimators.clear()
    rows = []
    for batch in batches:
        for profile in PROFILES:
            _, weights = preferences_resolve(profile=profile, overrides=None, cohort=None)
            rows.append(_measure(dataset, batch, profile, weights, mode, models, top_n))
    return {"dataset": dataset.name, "mode": mode, "batches": rows,
            "mean_regret": {p: round(float(np.mean([r["regret"] for r in rows if r["profile"] == p])), 5)
                            for p in PROFILES},
            "coverage": round(float(np.mean([r["covered"] for r in rows])), 4)}


def _batches(dataset: Dataset) -> list[_Batch]:
    by_task: dict[str, list[Prompt]] = defaultdict(list)
    for prompt in Prompt.objects.test().filter(dataset=dataset).order_by("id").only("id", "text", "task_type",
                                                                                      "embedding"):
        by_task[prompt.task_type or "unlabelled"].append(prompt)
    return [_Batch(task, prompts, sample_draw(np.array([p.embedding for p in prompts]), seed=f"{dataset.name}:{task}"))
            for task, prompts in sorted(by_task.items())]


def _measure(dataset: Dataset, batch: _Batch, profile: str, weights: dict[str, float], mode: str,
             models: dict[int, LLM], top_n: int) -> dict[str, Any]:
    sampled = [batch.prompts[p] for p in batch.sample.positions]
    sample_labels = _labels([p.id for p in sampled])  # what grading the sample would reveal, no more
    if mode == "evidence":
        chosen, low, high, sample_cost = _by_evidence(dataset, batch, weights)
    else:
        chosen, low, high, sample_cost = _by_grading(dataset, batch, weights, models, sample_labels, top_n)
    del sample_labels
    labels = _labels([p.id for p in batch.prompts])  # the whole batch, read only now to score the choice
    outcomes = _outcomes(labels, models)
    objective = Objective.of(weights, max(cost for _, cost in outcomes.values()))
    best = max(outcomes, key=lambda m: (objective(*outcomes[m]), -outcomes[m][1]))
    quality, cost = outcomes.get(chosen.id, (0.0, 0.0))
    return {"task_type": batch.task_type, "size": len(batch.prompts), "sample_size": len(batch.sample.positions),
            "profile": profile, "chosen": chosen.name, "quality": round(quality, 4),
            "cost_per_1k": round(1000 * cost, 5), "hindsight_best": models[best].name,
            "hindsight_quality": round(outcomes[best][0], 4),
            "regret": round(objective(*outcomes[best]) - objective(quality, cost), 5),
            "interval": [round(low, 4), round(high, 4)], "covered": bool(low - 1e-9 <= quality <= high + 1e-9),
            "sample_cost_usd": round(sample_cost, 6)}


def _by_evidence(dataset: Dataset, batch: _Batch, weights: dict[str, float]) -> tuple[LLM, float, float, float]:
    requests = {p: request_build(text=batch.prompts[p].text, dataset_ids=(dataset.id,))[0]
                for p in batch.sample.positions}
    judged = evidence_judge(requests, snapshots.get(), STRATEGIES[DEFAULT_STRATEGY])
    objective = Objective.of(weights, max(entry.cost(batch.sample) for entry in judged.values()))
    outcome = verdict(judged, batch.sample, objective)
    low, high = outcome.table[outcome.best]["interval"]
    return judged[outcome.best].llm, low, high, 0.0  # routing the sample calls no model


def _by_grading(dataset: Dataset, batch: _Batch, weights: dict[str, float], models: dict[int, LLM],
                sample_labels: Labels, top_n: int) -> tuple[LLM, float, float, float]:
    prior = _other_tasks_evidence(dataset, batch.task_type, models, batch.sample)
    objective = Objective.of(weights, max(entry.cost(batch.sample) for entry in prior.values()))
    candidates = top_candidates(prior, batch.sample, objective, top_n)
    prompt_at = {p: batch.prompts[p].id for p in batch.sample.positions}

    def recorded(position: int, llm: LLM) -> tuple[float, float]:
        return sample_labels[prompt_at[position]].get(llm.id, (0.0, 0.0))

    graded = graded_judge(batch.sample, candidates, recorded, objective)
    low, high = graded.verdict.table[graded.verdict.best]["interval"]
    return graded.judged[graded.verdict.best].llm, low, high, graded.sample_cost_usd


def _other_tasks_evidence(dataset: Dataset, task_type: str, models: dict[int, LLM],
                          sample: Sample) -> dict[str, Judged]:
    """Each model's mean score and cost on the train split's other task types, as if on every sampled row."""
    sums: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for llm_id, score, cost in EvaluationResult.objects.accuracy().filter(
            prompt__dataset=dataset, prompt__split=Prompt.Split.TRAIN).exclude(
            prompt__task_type=task_type).values_list("llm_id", "score", "cost_usd"):
        entry = sums[llm_id]
        entry[0], entry[1], entry[2] = entry[0] + score, entry[1] + cost, entry[2] + 1
    judged = {}
    for llm_id, (score, cost, n) in sums.items():
        if llm_id in models:
            judged[models[llm_id].name] = Judged(models[llm_id], {p: score / n for p in sample.positions},
                                                 {p: cost / n for p in sample.positions})
    if not judged:
        raise OptiRouteError(f"dataset {dataset.name!r} has no train evidence outside task type {task_type!r}")
    return judged


def _labels(prompt_ids: list[int]) -> Labels:
    labels: Labels = defaultdict(dict)
    for prompt_id, llm_id, score, cost in EvaluationResult.objects.accuracy().filter(
            prompt_id__in=prompt_ids).values_list("prompt_id", "llm_id", "score", "cost_usd"):
        labels[prompt_id][llm_id] = (score, cost)
    return labels


def _outcomes(labels: Labels, models: dict[int, LLM]) -> dict[int, tuple[float, float]]:
    """Each model's mean score and cost over the whole batch (models with a result on every row)."""
    rows = list(labels.values())
    return {m: (float(np.mean([row[m][0] for row in rows])), float(np.mean([row[m][1] for row in rows])))
            for m in models if all(m in row for row in rows)}
