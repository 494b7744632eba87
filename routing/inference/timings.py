"""Observed latency and reliability: the gateway's timed calls (routing.models.CallTiming, stored
by the recorder with each decision) rolled up per model into registry.ObservedLatency, which
routing reads instead of declared figures once a model has enough answered calls."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from registry.models import ObservedLatency
from routing.engine.costs import observed_figures
from routing.models import CallTiming

ROLLED_UP = ["calls", "errors", "p50_ms", "p95_ms", "first_token_p50_ms", "first_token_calls", "since", "refreshed_at"]


def observed_latency_refresh() -> int:
    """Recompute every model's observed figures over its recent window; forget models without
    recent calls and timings older than the window. Returns how many models have figures.
    Safe to run twice: each run computes the same rows from the same calls."""
    now = timezone.now()
    since = now - timedelta(hours=settings.OPTIROUTE_OBSERVED_HOURS)
    rows = [ObservedLatency(**row, refreshed_at=now)
            for row in CallTiming.objects.rollup(since=since, window=settings.OPTIROUTE_OBSERVED_WINDOW)]
    with transaction.atomic():
        ObservedLatency.objects.bulk_create(rows, update_conflicts=True, unique_fields=["llm"],
                                            update_fields=ROLLED_UP)
        ObservedLatency.objects.exclude(llm_id__in=[row.llm_id for row in rows]).delete()
        CallTiming.objects.filter(created_at__lt=since).delete()
    observed_figures.clear()  # this process routes on the new figures at once; others within seconds
    return len(rows)
