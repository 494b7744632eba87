"""What the overview shows for a time range and cohort: traffic, spend and savings, budgets,
failures, feedback and routing latency; each figure with the decision-log filter behind it."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from registry.models import LLM
from routing.inference.circuit import breaker
from routing.models import Cohort, Decision, Usage

PROVIDER_ERROR = Q(attempts__contains=[{"outcome": "error"}])


@dataclass
class Overview:
    since: dt.date
    until: dt.date
    cohort: Cohort | None
    days: list[dt.date] = field(default_factory=list)
    decisions_per_day: dict[str, dict[dt.date, int]] = field(default_factory=dict)  # model -> day -> n
    answered_per_day: dict[str, dict[dt.date, int]] = field(default_factory=dict)  # answering model -> day -> n
    answered_per_model: list[dict[str, Any]] = field(default_factory=list)
    cohorts: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    open_circuits: list[str] = field(default_factory=list)

    def filters(self, **more: str) -> dict[str, str]:
        """The decision log's query for the decisions behind a figure."""
        base = {"since": self.since.isoformat(), "until": self.until.isoformat()}
        return base | ({"cohort": self.cohort.name} if self.cohort else {}) | more


def overview_build(*, since: dt.date, until: dt.date, cohort: Cohort | None) -> Overview:
    overview = Overview(since=since, until=until, cohort=cohort)
    overview.days = [since + dt.timedelta(days=n) for n in range((until - since).days + 1)]
    decisions = Decision.objects.filter(created_at__date__gte=since, created_at__date__lte=until)
    usage = Usage.objects.filter(created_at__date__gte=since, created_at__date__lte=until)
    if cohort is not None:
        decisions, usage = decisions.filter(cohort=cohort), usage.filter(cohort=cohort)
    overview.decisions_per_day = _per_day(decisions.values("created_at__date", model=F("chosen_model__name")))
    overview.answered_per_day = _per_day(usage.values("created_at__date", model=F("llm__name")))
    overview.answered_per_model = [dict(row) for row in usage.values("llm__name").annotate(
        calls=Count("id"), spent=Sum("cost_usd"), saved=Sum("saving_usd")).order_by("-calls")]
    overview.cohorts = _cohorts(usage, cohort)
    overview.totals = _totals(decisions, usage)
    overview.feedback = _feedback(decisions)
    overview.open_circuits = _open_circuits()
    return overview


def _per_day(rows: QuerySet[Any, Any]) -> dict[str, dict[dt.date, int]]:
    """Counts per model and day of rows grouped by (model, created_at__date), the busiest model first."""
    per_model: dict[str, dict[dt.date, int]] = defaultdict(dict)
    for row in rows.annotate(n=Count("id")):
        per_model[row["model"] or "no model"][row["created_at__date"]] = row["n"]
    return dict(sorted(per_model.items(), key=lambda item: -sum(item[1].values())))


def _cohorts(usage: QuerySet[Usage], only: Cohort | None) -> list[dict[str, Any]]:
    now = timezone.now()
    month = Usage.objects.filter(created_at__year=now.year, created_at__month=now.month)
    spent_this_month = dict(month.values_list("cohort_id").annotate(total=Sum("cost_usd")).values_list("cohort_id", "total"))
    in_range = {row["cohort_id"]: row for row in usage.values("cohort_id").annotate(
        calls=Count("id"), spent=Sum("cost_usd"), saved=Sum("saving_usd"), baseline=Sum("baseline_cost_usd"))}
    cohorts = Cohort.objects.select_related("baseline_model").order_by("name")
    rows = []
    for cohort in cohorts if only is None else [only]:
        row: dict[str, Any] = dict(in_range.get(cohort.pk, {}))
        budget = float(cohort.monthly_budget_usd) if cohort.monthly_budget_usd is not None else None
        month_spent = spent_this_month.get(cohort.pk) or 0.0
        spent, baseline, saved = row.get("spent") or 0.0, row.get("baseline"), row.get("saved")
        rows.append({"cohort": cohort, "calls": row.get("calls", 0), "spent": spent, "saved": saved,
                     "baseline": baseline, "money": [spent, baseline, saved], "month_spent": month_spent,
                     "budget": budget, "budget_share": None if not budget else min(1.0, month_spent / budget)})
    return rows


def _totals(decisions: QuerySet[Decision], usage: QuerySet[Usage]) -> dict[str, Any]:
    money = usage.aggregate(spent=Sum("cost_usd"), saved=Sum("saving_usd"))
    routing_ms = sorted(float(ms) for ms in decisions.values_list("timings__total", flat=True) if ms is not None)
    return {"decisions": decisions.count(), "answered": usage.count(), "spent": money["spent"] or 0.0,
            "saved": money["saved"], "fallbacks": decisions.exclude(fallback_reason="").count(),
            "provider_errors": decisions.filter(PROVIDER_ERROR).count(),
            "p50_ms": _percentile(routing_ms, 50), "p95_ms": _percentile(routing_ms, 95)}


def _percentile(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def _feedback(decisions: QuerySet[Decision]) -> list[dict[str, Any]]:
    rows = decisions.filter(feedback__isnull=False).values("answered_by__name", "analysis__task_type").annotate(
        up=Count("feedback", filter=Q(feedback__rating=1)), rated=Count("feedback")).order_by("answered_by__name")
    return [{"model": row["answered_by__name"] or "no model", "task_type": row["analysis__task_type"] or "",
             "up": row["up"], "rated": row["rated"], "rate": row["up"] / row["rated"]} for row in rows]


def _open_circuits() -> list[str]:
    ids = list(LLM.objects.active().values_list("id", flat=True))
    return list(LLM.objects.filter(id__in=breaker.open_circuits(ids)).order_by("name").values_list("name", flat=True))
