"""Routing workflows: resolving preferences, making and storing decisions, API keys."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from optiroute.api_errors import OptiRouteError
from registry.embedder import get_embedder
from routing import engine
from routing.analyzer import analyze
from routing.models import SLIDERS, ApiKey, Cohort, Decision, PreferenceProfile
from routing.snapshot import snapshots

ENGINE_VERSION = "1"


def preferences_resolve(*, profile: str | None, overrides: dict[str, float] | None,
                        cohort: Cohort | None) -> tuple[str, dict[str, float]]:
    """A named profile (else the cohort's, else balanced) with single sliders overridden."""
    name = profile or (cohort.default_profile.name if cohort and cohort.default_profile else "balanced")
    found = PreferenceProfile.objects.filter(name=name).first()
    if found is None:
        known = ", ".join(PreferenceProfile.objects.order_by("name").values_list("name", flat=True))
        raise OptiRouteError(f"unknown profile {name!r}; known profiles: {known}", code="unknown_profile")
    weights = found.full_weights()
    for slider, value in (overrides or {}).items():
        if slider not in SLIDERS:
            raise OptiRouteError(f"unknown preference {slider!r}; sliders are {', '.join(SLIDERS)}")
        weights[slider] = float(value)
    if not any(weights.values()):
        raise OptiRouteError("at least one preference must be above 0")
    return name, weights


@dataclass
class Routed:
    decision: Decision
    ranking: list[engine.Candidate]


def decision_make(*, text: str, profile: str | None = None, preferences: dict[str, float] | None = None,
                  constraints: dict[str, Any] | None = None, cohort: Cohort | None = None,
                  api_key: ApiKey | None = None, user: Any = None, strategy: str | None = None,
                  mode: str = Decision.Mode.DRY_RUN, output_tokens: int | None = None,
                  unavailable: frozenset[int] = frozenset()) -> Routed:
    started = time.perf_counter()
    if not text.strip():
        raise OptiRouteError("the request text is empty")
    strategy_impl = _strategy(strategy)
    profile_name, weights = preferences_resolve(profile=profile, overrides=preferences, cohort=cohort)
    hard = engine.Constraints.from_dict(constraints or {})
    if cohort is not None:
        hard = hard.merged(engine.Constraints.from_dict(cohort.constraints or {}))
    analysis, vector = analyze(text)
    analysed = time.perf_counter()
    snapshot = snapshots.get()
    pool = frozenset(cohort.allowed_models.values_list("id", flat=True)) if cohort else frozenset()
    request = engine.Request(
        text=text, vector=vector, tokens=analysis.tokens, task_type=analysis.task_type,
        task_confidence=analysis.task_confidence, domain=analysis.domain, domain_confidence=analysis.domain_confidence,
        constraints=hard, pool=pool or None, output_tokens=output_tokens or engine.DEFAULT_OUTPUT_TOKENS,
        unavailable=unavailable)
    estimates = engine.estimate(request, snapshot, strategy_impl)
    estimated = time.perf_counter()
    ranking = engine.choose(estimates, weights)
    chosen = ranking[0]
    decision = Decision(
        mode=mode, api_key=api_key, cohort=cohort, user=user if getattr(user, "pk", None) else None,
        profile=profile_name, weights=weights, constraints=hard.as_dict(), analysis=analysis.as_dict(),
        candidates=[c.as_dict() for c in ranking], excluded=estimates.excluded, neighbours=estimates.neighbours[:10],
        filters=estimates.filters, fallback_reason=estimates.fallback_reason, chosen_model=chosen.llm,
        strategy=strategy_impl.name,
        versions={"engine": ENGINE_VERSION, "analyzer": analysis.analyzer_version, "embedder": get_embedder().name},
        explanation=explain(chosen, ranking, weights, analysis.as_dict(), estimates.fallback_reason))
    done = time.perf_counter()
    decision.timings = {"analysis": _ms(started, analysed), "evidence": _ms(analysed, estimated),
                        "scoring": _ms(estimated, done), "total": _ms(started, done)}
    decision.save()
    return Routed(decision, ranking)


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000, 3)


def _strategy(name: str | None) -> engine.Strategy:
    chosen = name or engine.DEFAULT_STRATEGY
    if chosen not in engine.STRATEGIES:
        raise OptiRouteError(f"unknown strategy {chosen!r}; known: {', '.join(engine.STRATEGIES)}")
    return engine.STRATEGIES[chosen]


def explain(chosen: engine.Candidate, ranking: list[engine.Candidate], weights: dict[str, float],
            analysis: dict[str, Any], fallback_reason: str) -> str:
    top_weights = ", ".join(f"{k} {v:g}" for k, v in sorted(weights.items(), key=lambda kv: -kv[1]) if v > 0)
    evidence = (f"from {chosen.evidence_n} similar evaluated prompts" if chosen.evidence_n
                else f"from its {chosen.prior_source} record" if chosen.prior_source != "none" else "no evidence")
    text = (f"Chose {chosen.llm.name} for a {analysis['task_type']} request ({analysis['domain']} domain, "
            f"complexity {analysis['complexity']:.2f}): expected quality {chosen.quality:.2f} ({evidence}), "
            f"expected cost ${chosen.cost_usd:.6f}, expected latency {chosen.latency_ms:.0f} ms; "
            f"utility {chosen.utility:.3f} with weights {top_weights}.")
    if len(ranking) > 1:
        runner = ranking[1]
        text += f" Runner-up {runner.llm.name} scored {runner.utility:.3f}."
    if fallback_reason:
        text += f" Fallback: {fallback_reason}."
    return text


def api_key_create(*, cohort_name: str | None, label: str = "") -> tuple[ApiKey, str]:
    cohort = _cohort(cohort_name)
    raw = ApiKey.generate()
    with transaction.atomic():
        key = ApiKey.objects.create(cohort=cohort, label=label, hint=raw[:8], hashed=ApiKey.hash(raw))
    return key, raw


def _cohort(name: str | None) -> Cohort:
    if name is None:
        cohort, _ = Cohort.objects.get_or_create(name="default")
        return cohort
    found = Cohort.objects.filter(name=name).first()
    if found is None:
        raise OptiRouteError(f"unknown cohort {name!r}")
    return found
