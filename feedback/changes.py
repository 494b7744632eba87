"""What feedback has changed, per model, task type and domain: for the staff page."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from feedback.models import Feedback
from registry.models import FIELD_FORMAT, ModelProfile
from routing.models import Decision

RANGES_DAYS = (1, 7, 30, 90)  # the time ranges the page offers for the explored share


@dataclass
class Change:
    llm_id: int
    model: str
    task_type: str
    domain: str
    before: float | None = None  # the model's mean score on this task type in the evaluations
    after: float | None = None  # the same, pooled with the field evidence
    ratings: int = 0
    counted: int = 0  # ratings that count now (bounds, horizon, resets)
    latest: list[Feedback] = field(default_factory=list)


def feedback_changes(latest: int = 5) -> list[Change]:
    changes: dict[tuple[int, str, str], Change] = {}
    counted = set(Feedback.objects.counted(timedelta(days=settings.FEEDBACK_HORIZON_DAYS),
                                           settings.FEEDBACK_RATER_CAP).values_list("pk", flat=True))
    ratings = Feedback.objects.select_related("decision__answered_by").order_by("-updated_at")
    for rating in ratings:
        decision = rating.decision
        model = decision.answered_by
        if model is None:
            continue
        key = (model.pk, decision.analysis.get("task_type", ""), decision.analysis.get("domain", ""))
        change = changes.setdefault(key, Change(model.pk, model.name, key[1], key[2]))
        change.ratings += 1
        change.counted += rating.pk in counted
        if len(change.latest) < latest:
            change.latest.append(rating)
    means = _means()
    for change in changes.values():
        change.before = _pooled(means, change.llm_id, change.task_type, field_too=False)
        change.after = _pooled(means, change.llm_id, change.task_type, field_too=True)
    return sorted(changes.values(), key=lambda c: (c.model, c.task_type, c.domain))


def _means() -> dict[tuple[int, str, bool], list[tuple[float, int]]]:
    means: dict[tuple[int, str, bool], list[tuple[float, int]]] = defaultdict(list)
    rows: Any = ModelProfile.objects.accuracy().filter(domain="").values_list(
        "llm_id", "task_type", "mean_score", "n", "dataset__source_format")
    for llm_id, task_type, mean, n, source in rows:
        means[(llm_id, task_type, source == FIELD_FORMAT)].append((mean, n))
    return means


def _pooled(means: dict[tuple[int, str, bool], list[tuple[float, int]]], llm_id: int, task_type: str, *,
            field_too: bool) -> float | None:
    items = means[(llm_id, task_type, False)] + (means[(llm_id, task_type, True)] if field_too else [])
    total = sum(n for _, n in items)
    return sum(m * n for m, n in items) / total if total else None


@dataclass
class Exploration:
    days: int
    answered: int  # answered requests in the range
    explored: int  # of which routed on a drawn quality (routing.engine.exploration)

    @property
    def percent(self) -> float | None:
        return round(100 * self.explored / self.answered, 1) if self.answered else None


def exploration_summary(*, days: int) -> Exploration:
    """The share of live traffic (answered requests) that explored over the last `days` days."""
    counts = Decision.objects.filter(created_at__gte=timezone.now() - timedelta(days=days),
                                     answered_by__isnull=False).aggregate(
        answered=Count("pk"), explored=Count("pk", filter=Q(explored=True)))
    return Exploration(days, counts["answered"], counts["explored"])
