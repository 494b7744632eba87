"""What the console shows of each imported evaluation dataset: its splits, models, results,
task types and domains, each model's mean score and cost, and when it was imported."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Avg, Count, Max, Min

from registry.models import Dataset, EvaluationResult, Prompt


@dataclass
class DatasetStatistics:
    dataset: Dataset
    train: int = 0
    test: int = 0
    results: int = 0
    models: list[dict[str, Any]] = field(default_factory=list)  # name, results, score, cost_usd (accuracy)
    task_types: list[tuple[str, int]] = field(default_factory=list)
    domains: list[tuple[str, int]] = field(default_factory=list)
    dimensions: list[str] = field(default_factory=list)
    cost_min: float | None = None
    cost_max: float | None = None

    @property
    def usable(self) -> bool:
        """The harness needs both splits: evidence from train, queries from test."""
        return bool(self.train and self.test)


def dataset_statistics(dataset: Dataset) -> DatasetStatistics:
    stats = DatasetStatistics(dataset)
    prompts = Prompt.objects.filter(dataset=dataset)
    splits = dict(prompts.values_list("split").annotate(n=Count("id")).values_list("split", "n"))
    stats.train, stats.test = splits.get(Prompt.Split.TRAIN, 0), splits.get(Prompt.Split.TEST, 0)
    stats.task_types = _counts(prompts, "task_type")
    stats.domains = _counts(prompts, "domain")
    results = EvaluationResult.objects.filter(prompt__dataset=dataset)
    stats.results = results.count()
    stats.dimensions = sorted(set(results.values_list("dimension", flat=True).distinct()))
    stats.models = [dict(row) for row in results.accuracy().values("llm__name").annotate(
        n=Count("id"), score=Avg("score"), cost_usd=Avg("cost_usd")).order_by("-score", "llm__name")]
    span = results.aggregate(low=Min("cost_usd"), high=Max("cost_usd"))
    stats.cost_min, stats.cost_max = span["low"], span["high"]
    return stats


def _counts(prompts: Any, column: str) -> list[tuple[str, int]]:
    rows = prompts.values_list(column).annotate(n=Count("id")).order_by("-n", column).values_list(column, "n")
    return [(name or "unlabelled", n) for name, n in rows]


def datasets_statistics() -> list[DatasetStatistics]:
    return [dataset_statistics(dataset) for dataset in Dataset.objects.order_by("name")]
