"""Stage 6 of a decision: why this model, in words a person reads."""

from __future__ import annotations

from typing import Any

from registry.models import DECLARED_METRICS
from registry.templatetags.units import duration, money
from routing.engine.estimate import NEUTRAL, measured_for_request
from routing.engine.request import Candidate


def explain(chosen: Candidate, ranking: list[Candidate], weights: dict[str, float],
            analysis: dict[str, Any], fallback_reason: str) -> str:
    top_weights = ", ".join(f"{k} {v:g}" for k, v in sorted(weights.items(), key=lambda kv: -kv[1]) if v > 0)
    evidence = (f"from {chosen.evidence_n} similar evaluated prompts" if chosen.evidence_n
                else f"from {chosen.prior_source}" if chosen.prior_source != "none" else "no evidence")
    text = (f"Chose {chosen.llm.name} for a {analysis['task_type']} request ({analysis['domain']} domain, "
            f"complexity {analysis['complexity']:.2f}): expected quality {chosen.quality:.2f} ({evidence}), "
            f"expected cost {money(chosen.cost_usd)}, expected latency {duration(chosen.latency_ms)}"
            f"{f' ({chosen.latency_source})' if chosen.latency_source else ''}; "
            f"utility {chosen.utility:.3f} with weights {top_weights}.")
    if chosen.feedback_n or chosen.feedback_prior_n:
        text += (f" Feedback contributed {chosen.feedback_n} rated answer{'s' if chosen.feedback_n != 1 else ''} "
                 f"among the similar prompts and {chosen.feedback_prior_n} to its task-level record.")
    text += _dimension_evidence(chosen, weights)
    text += _published_figures(chosen, weights)
    if len(ranking) > 1:
        runner = ranking[1]
        text += f" Runner-up {runner.llm.name} scored {runner.utility:.3f}."
    if fallback_reason:
        text += f" Fallback: {fallback_reason}."
    return text


def _published_figures(chosen: Candidate, weights: dict[str, float]) -> str:
    """Where the chosen model's figure on each weighted non-functional dimension came from: its
    published source and date, or that none is published (routing.engine.estimate.neutral_fill)."""
    weighted = [metric for metric in DECLARED_METRICS
                if weights.get(metric, 0) > 0 and not measured_for_request(chosen, metric)]
    sources = (chosen.llm.sources or {}).get("metric_sources", {})
    found = [f"{metric} {getattr(chosen.llm, metric):.2f} ({_named(sources.get(metric))})"
             for metric in weighted if getattr(chosen.llm, metric) is not None]
    missing = [metric for metric in weighted if getattr(chosen.llm, metric) is None]
    text = f" Published figures: {'; '.join(found)}." if found else ""
    if missing:
        # No apostrophes or other characters HTML escapes: pages show the explanation as stored.
        text += (f" No published figure for {', '.join(missing)}: scored neutrally, at the mean published figure "
                 f"of the candidates ({NEUTRAL:g} where none has one).")
    return text


def _named(source: dict[str, str] | None) -> str:
    if not source:
        return "declared, source not recorded"
    return ", ".join(part for part in (source.get("name"), source.get("date")) if part)


def _dimension_evidence(chosen: Candidate, weights: dict[str, float]) -> str:
    """The weighted dimensions estimated from per-request evidence, with the datasets it came from."""
    parts = [f"{dimension} {chosen.declared[dimension]:.2f} from {source['n']} similar prompts of "
             f"{', '.join(source['datasets'])}"
             for dimension, source in chosen.dimension_sources.items()
             if source["source"] == "evidence" and weights.get(dimension, 0) > 0]
    return f" Per-request evidence: {'; '.join(parts)}." if parts else ""
