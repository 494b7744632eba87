"""Where a catalog's model-level figures come from: each declared metric (helpfulness, harmlessness,
honesty, steerability, creativity) carries its published source, date and raw figure, or is absent.

A catalog entry with `metric_sources` must source every figure it gives; a figure without a source
is refused, so no estimate enters the registry as if it were a measurement."""

from __future__ import annotations

from typing import Any

from registry.importers import Errors
from registry.models import DECLARED_METRICS

# Keys a catalog may carry beside a model's fields: where its price, context window and model id
# come from, its figures' sources, and a note.
CATALOG_KEYS = frozenset({"price_source", "context_source", "model_id_source", "metric_sources", "notes"})


def metric_sources_of(item: dict[str, Any], sources: dict[str, Any], where: str, errors: Errors) -> dict[str, Any]:
    """The model's metric sources resolved against the catalog's `sources`: {metric: {"name", "url",
    "date", "raw"}}. Errors name a figure without a source, a source for a missing figure, or an
    unknown source."""
    given = item.get("metric_sources")
    if not isinstance(given, dict):
        errors.add(where, "metric_sources must be an object of metric: {source, date, raw}")
        return {}
    resolved = {}
    for metric in DECLARED_METRICS:
        entry, figure = given.get(metric), item.get(metric)
        if figure is not None and entry is None:
            errors.add(where, f"{metric} {figure} has no source in metric_sources (leave it null if none is published)")
        elif entry is not None and figure is None:
            errors.add(where, f"metric_sources names a source for {metric}, but {metric} is null")
        elif entry is not None:
            resolved[metric] = _resolved(entry, sources, f"{where} metric_sources.{metric}", errors)
    for metric in sorted(set(given) - set(DECLARED_METRICS)):
        errors.add(where, f"metric_sources: unknown metric {metric!r}")
    return resolved


def _resolved(entry: Any, sources: dict[str, Any], where: str, errors: Errors) -> dict[str, Any]:
    key = entry.get("source") if isinstance(entry, dict) else None
    if not isinstance(key, str) or key not in sources:
        errors.add(where, f"source {key!r} is not one of the catalog's sources")
        return {}
    source = sources[key]
    return {"name": source.get("name", source.get("title", key)), "url": source.get("url", ""),
            "date": entry.get("date") or source.get("date", ""), "raw": entry.get("raw", "")}
