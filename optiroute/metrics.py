"""What OptiRoute is doing, as Prometheus series named `optiroute_*` (served at GET /metrics).

Counters and histograms are written where the events happen (a decision recorded, a provider
called, a rating stored) by whichever process handles them: gunicorn workers, Celery workers,
management commands. They share one directory (PROMETHEUS_MULTIPROC_DIR, set by settings before
anything imports prometheus_client), so a scrape of any web worker sums every process.

State that lives elsewhere (budgets spent, batches in progress, open circuits, the broker's queue)
is read when scraped, by `StateCollector`, so it is never stale and never double counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# Routing takes milliseconds; provider calls take up to minutes.
ROUTING_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

decisions = Counter("optiroute_decisions", "Routing decisions recorded",
                    ["model", "profile", "cohort", "strategy", "mode", "explored"])
routing_seconds = Histogram("optiroute_routing_seconds", "Time to make a routing decision (no LLM call)",
                            buckets=ROUTING_BUCKETS)
provider_seconds = Histogram("optiroute_provider_seconds", "Duration of one provider call, answered or failed",
                             ["model", "outcome"], buckets=CALL_BUCKETS)
first_token_seconds = Histogram("optiroute_time_to_first_token_seconds", "Time to a streamed answer's first text",
                                ["model"], buckets=CALL_BUCKETS)
provider_errors = Counter("optiroute_provider_errors", "Failed provider calls by class of error",
                          ["model", "error_class"])
retries = Counter("optiroute_retries", "Provider calls repeated after a retryable failure", ["model"])
fallbacks = Counter("optiroute_fallbacks", "Calls that fell back from the routed model to the next one")
circuits_opened = Counter("optiroute_circuit_opened", "Circuit breakers opened", ["model"])
tokens = Counter("optiroute_tokens", "Tokens of answered calls", ["model", "direction"])
cost_usd = Counter("optiroute_cost_usd", "Spend on answered calls, in USD", ["model", "cohort"])
saving_usd = Counter("optiroute_saving_usd", "Saving against the cohort's baseline model, in USD", ["cohort"])
feedback = Counter("optiroute_feedback", "Ratings received", ["kind", "rating"])
index_short_searches = Counter("optiroute_index_short_searches",
                               "Nearest-prompt searches the HNSW index answered short, completed by an exact scan")
rate_limited = Counter("optiroute_rate_limited", "Requests refused by a rate limit", ["scope"])


def error_class(status: int | None, message: str) -> str:
    if status == 429:
        return "rate_limited"
    if status is not None and status >= 500:
        return "server_error"
    if status is not None and status >= 400:
        return "client_error"
    return "timeout" if "timed out" in message.lower() or "timeout" in message.lower() else "connection"


def decision_observe(decision: Any, usage: Any = None) -> None:
    """Count one recorded decision, and the usage of its call when it was answered."""
    try:
        model = decision.chosen_model.name if decision.chosen_model_id else ""
        cohort = decision.cohort.name if decision.cohort_id else ""
        decisions.labels(model, decision.profile or "", cohort, decision.strategy or "", decision.mode,
                         "yes" if decision.explored else "no").inc()
        total_ms = (decision.timings or {}).get("total")
        if total_ms is not None:
            routing_seconds.observe(total_ms / 1000.0)
        if usage is not None:
            answered = usage.llm.name if usage.llm_id else model
            tokens.labels(answered, "input").inc(usage.input_tokens)
            tokens.labels(answered, "output").inc(usage.output_tokens)
            cost_usd.labels(answered, cohort).inc(max(usage.cost_usd, 0.0))
            if usage.saving_usd:
                saving_usd.labels(cohort).inc(max(usage.saving_usd, 0.0))
    except Exception:  # metrics never break the request they describe
        logger.warning("could not count a decision in the metrics", exc_info=True)


class StateCollector(Collector):
    """Series read from the database and the broker at scrape time."""

    def collect(self) -> Iterator[Metric]:
        for read in (_budgets, _batches, _circuits, _queue_depth):
            try:
                yield from read()
            except Exception:  # one source down (e.g. the broker) leaves the others readable
                logger.warning("metrics: %s could not be read", read.__name__, exc_info=True)


def _budgets() -> Iterator[Metric]:
    from django.db.models import Sum

    from routing.models import Cohort, Usage

    spent = GaugeMetricFamily("optiroute_budget_spent_usd", "Spend this month per cohort, in USD", labels=["cohort"])
    limit = GaugeMetricFamily("optiroute_budget_usd", "Monthly budget per cohort, in USD", labels=["cohort"])
    totals = {row["cohort__name"]: row["total"]
              for row in Usage.objects.this_month().values("cohort__name").annotate(total=Sum("cost_usd"))}
    for name, budget in Cohort.objects.values_list("name", "monthly_budget_usd"):
        spent.add_metric([name], float(totals.get(name) or 0.0))
        if budget is not None:
            limit.add_metric([name], float(budget))
    yield spent
    yield limit


def _batches() -> Iterator[Metric]:
    from django.db.models import Count

    from routing.models import Batch, BatchItem

    items = GaugeMetricFamily("optiroute_batch_items", "Items of batches not finished nor cancelled, by status",
                              labels=["status"])
    finished = [Batch.Status.SUCCEEDED, Batch.Status.FAILED, Batch.Status.CANCELLED]
    active = BatchItem.objects.exclude(batch__status__in=finished)
    for row in active.values("status").annotate(n=Count("id")):
        items.add_metric([row["status"]], row["n"])
    yield items


def _circuits() -> Iterator[Metric]:
    from registry.models import LLM
    from routing.inference.circuit import breaker

    gauge = GaugeMetricFamily("optiroute_circuit_open", "1 while a model's circuit breaker is open", labels=["model"])
    names = dict(LLM.objects.values_list("id", "name"))
    for llm_id in sorted(breaker.open_circuits(names)):
        gauge.add_metric([names[llm_id]], 1.0)
    yield gauge


def _queue_depth() -> Iterator[Metric]:
    from optiroute.broker import broker_client

    gauge = GaugeMetricFamily("optiroute_queue_depth", "Tasks waiting in the broker", labels=["queue"])
    client = broker_client()
    if client is not None:
        gauge.add_metric(["celery"], float(client.llen("celery")))
    yield gauge


def exposition() -> bytes:
    """Every process's series and the scrape-time state."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(StateCollector())
    return generate_latest(registry)
