"""The decision log as CSV: one row per decision, the columns an analyst asks for first."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from routing.models import Decision

COLUMNS = ["id", "created_at", "mode", "cohort", "profile", "strategy", "chosen_model", "answered_by",
           "fallback_reason", "task_type", "input_tokens", "output_tokens", "cost_usd", "saving_usd",
           "routing_ms", "rated_up", "rated_down", "explanation"]


class _Line:
    def write(self, value: str) -> str:
        return value


def decision_rows(decision: Decision) -> list[Any]:
    usage = getattr(decision, "usage", None)
    return [decision.pk, decision.created_at.isoformat(), decision.mode, decision.cohort.name if decision.cohort else "",
            decision.profile, decision.strategy, decision.chosen_model.name if decision.chosen_model else "",
            decision.answered_by.name if decision.answered_by else "", decision.fallback_reason,
            decision.analysis.get("task_type", ""), usage.input_tokens if usage else "",
            usage.output_tokens if usage else "", usage.cost_usd if usage else "",
            "" if usage is None or usage.saving_usd is None else usage.saving_usd,
            decision.timings.get("total", ""), getattr(decision, "ups", 0), getattr(decision, "downs", 0),
            decision.explanation]


def decisions_csv(decisions: Iterable[Decision]) -> Iterator[str]:
    # A streamed response: each row is written as it is read, so an export of every row stays small in memory.
    writer = csv.writer(_Line())
    yield writer.writerow(COLUMNS)
    for decision in decisions:
        yield writer.writerow(decision_rows(decision))
