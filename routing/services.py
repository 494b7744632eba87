"""Routing workflows: resolving preferences, making and storing decisions, API keys."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from optiroute.api_errors import OptiRouteError
from registry.embedder import get_embedder
from registry.models import LLM, Provider
from registry.services import estimate_tokens
from routing import circuit, engine, inference
from routing.analyzer import analyze, routing_text
from routing.estimator import estimators
from routing.models import SLIDERS, ApiKey, Cohort, Decision, PreferenceProfile, Usage
from routing.providers import ChatCall, ProviderError, unusable_reason
from routing.recorder import recorder
from routing.snapshot import snapshots

ENGINE_VERSION = "2"  # 2: the k-NN estimate is shrunk by a factor fitted on the evidence


def preferences_resolve(*, profile: str | None, overrides: dict[str, float] | None,
                        cohort: Cohort | None) -> tuple[str, dict[str, float]]:
    """A named profile (else the cohort's, else balanced) with single sliders overridden."""
    name = profile or (cohort.default_profile.name if cohort and cohort.default_profile else "balanced")
    snapshot = snapshots.get()
    if name in snapshot.broken_profiles:
        raise OptiRouteError(snapshot.broken_profiles[name], status=503, code="profile_misconfigured")
    profiles = snapshot.profiles
    if name not in profiles:
        known = ", ".join(sorted(profiles))
        raise OptiRouteError(f"unknown profile {name!r}; known profiles: {known}", code="unknown_profile")
    weights = dict(profiles[name])
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


def decision_make(*, text: str, context: str = "", tokens: int | None = None, profile: str | None = None,
                  preferences: dict[str, float] | None = None,
                  constraints: dict[str, Any] | None = None, cohort: Cohort | None = None,
                  api_key: ApiKey | None = None, user: Any = None, strategy: str | None = None,
                  mode: str = Decision.Mode.DRY_RUN, output_tokens: int | None = None,
                  unavailable: frozenset[int] = frozenset(), save: bool = True) -> Routed:
    """Route one request: `text`, or a conversation's latest message with its `context` and `tokens`
    (see analyzer.routing_text). With save=False the caller stores the decision (with what happened next)."""
    started = time.perf_counter()
    if not text.strip():
        raise OptiRouteError("the request text is empty")
    strategy_impl = _strategy(strategy)
    profile_name, weights = preferences_resolve(profile=profile, overrides=preferences, cohort=cohort)
    hard = engine.Constraints.from_dict(constraints or {})
    if cohort is not None:
        hard = hard.merged(engine.Constraints.of_cohort(cohort))
    analysis, vector = analyze(text, context=context, tokens=tokens)
    analysed = time.perf_counter()
    snapshot = snapshots.get()
    pool = snapshot.pools.get(cohort.pk) if cohort else None
    request = engine.Request(
        text=text, vector=vector, tokens=analysis.tokens, task_type=analysis.task_type,
        task_confidence=analysis.task_confidence, domain=analysis.domain, domain_confidence=analysis.domain_confidence,
        constraints=hard, pool=pool, output_tokens=output_tokens or engine.DEFAULT_OUTPUT_TOKENS,
        unavailable=unavailable)
    estimates = engine.estimate(request, snapshot, strategy_impl)
    estimated = time.perf_counter()
    ranking = engine.choose(estimates, weights)
    chosen = ranking[0]
    reserve = engine.rank(estimates.reserve, weights)
    analysed_as = analysis.as_dict()
    decision = Decision(
        mode=mode, api_key=api_key, cohort=cohort, user=user if getattr(user, "pk", None) else None,
        profile=profile_name, weights=weights, constraints=hard.as_dict(), analysis=analysed_as,
        candidates=[c.as_dict() for c in ranking], excluded=estimates.excluded, neighbours=estimates.neighbours,
        filters=estimates.filters, fallback_reason=estimates.fallback_reason, chosen_model=chosen.llm, embedding=vector,
        strategy=strategy_impl.name,
        versions={"engine": ENGINE_VERSION, "analyzer": analysis.analyzer_version, "embedder": get_embedder().name,
                  "estimator": estimator.version_id if (estimator := estimators.get()) else None},
        explanation=explain(chosen, ranking, weights, analysed_as, estimates.fallback_reason))
    done = time.perf_counter()
    decision.timings = {"analysis": _ms(started, analysed), "evidence": _ms(analysed, estimated),
                        "scoring": _ms(estimated, done), "total": _ms(started, done)}
    if save:
        recorder.record(decision)
    return Routed(decision, ranking + reserve)


def routing_state_load() -> None:
    """Load now what routing reads on every call (the registry snapshot with its evidence, the
    estimator, the analyzer, the embedder) instead of on a process's first request."""
    _ = snapshots.get().evidence
    estimators.get()
    analyze("Warm-up request: load the analyzer and the embedder.")


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


def get_chat_key_for_user(user: Any) -> ApiKey:
    """The key the browser chat uses on this user's behalf, in the user's cohort (else the default).

    Made on first use; its raw value is never shown, since the browser session is what
    authenticates. An admin revokes a user's chat by revoking this key.
    """
    cohort = user.cohorts.order_by("name").first() or _cohort(None)
    key = ApiKey.objects.filter(user=user).select_related("cohort__default_profile").order_by("-created_at").first()
    if key is None:
        raw = ApiKey.generate()
        return ApiKey.objects.create(cohort=cohort, user=user, label=f"browser chat: {user.get_username()}",
                                     hint=raw[:8], hashed=ApiKey.hash(raw))
    if key.revoked_at is not None:
        raise OptiRouteError("your chat access has been revoked; ask an administrator", status=403,
                             code="chat_revoked")
    if key.cohort_id != cohort.pk:  # membership changed: the chat follows it
        key.cohort = cohort
        key.save(update_fields=["cohort"])
    return key


def _cohort(name: str | None) -> Cohort:
    if name is None:
        cohort, _ = Cohort.objects.get_or_create(name="default")
        return cohort
    found = Cohort.objects.filter(name=name).first()
    if found is None:
        raise OptiRouteError(f"unknown cohort {name!r}")
    return found


# ------------------------------------------------------------------ chat completions

PROFILE_PREFIX = "optiroute/"


@dataclass
class ChatRequest:
    model: str
    messages: list[dict[str, str]]
    max_tokens: int | None = None
    temperature: float | None = None
    options: dict[str, Any] | None = None


@dataclass
class PreparedChat:
    decision: Decision
    chain: inference.Chain
    call: ChatCall
    api_key: ApiKey


def budget_left(cohort: Cohort) -> float | None:
    """USD left this month (None: no budget); a 429 error once it is spent."""
    if cohort.monthly_budget_usd is None:
        return None
    left = float(cohort.monthly_budget_usd) - Usage.objects.filter(cohort=cohort).this_month().spent_usd()
    if left <= 0:
        raise OptiRouteError(f"the monthly budget of ${cohort.monthly_budget_usd} for cohort {cohort.name} is spent; "
                             "it renews on the 1st or an admin can raise it", status=429, code="budget_exhausted")
    return left


def chat_prepare(*, request: ChatRequest, api_key: ApiKey) -> PreparedChat:
    """Decide which model answers (or check the one named), and the fallback chain."""
    cohort = api_key.cohort
    options = dict(request.options or {})
    constraints = dict(options.get("constraints") or {})
    left = budget_left(cohort)
    if left is not None:
        constraints["max_cost_usd"] = min(constraints.get("max_cost_usd", left), left)
    said = routing_text(request.messages)
    call = ChatCall(model_id="", messages=request.messages, max_tokens=request.max_tokens,
                    temperature=request.temperature, timeout_s=settings.LLM_CALL_TIMEOUT_S)
    if request.model.startswith(PROFILE_PREFIX):
        profile = request.model[len(PROFILE_PREFIX):]
        routed = decision_make(
            text=said.latest, context=said.context, tokens=said.tokens,
            profile=None if profile == "auto" else profile, preferences=options.get("preferences"),
            constraints=constraints, cohort=cohort, api_key=api_key, strategy=options.get("strategy"),
            mode=Decision.Mode.CHAT, output_tokens=request.max_tokens or options.get("max_output_tokens"),
            unavailable=circuit.open_circuits(snapshots.get().models), save=False)
        chain = inference.chain_build(routed.ranking, allow_escalation=bool(options.get("allow_escalation")))
        if not chain.models and all(c.llm.provider.kind == Provider.Kind.EVALUATION for c in routed.ranking):
            # Nothing can fail upstream: the models that fit this request are evidence, not answerers.
            raise engine.RoutingError("no model that can be called fits this request; those that fit are known only "
                                      f"from evaluation data: {', '.join(c.llm.name for c in routed.ranking)}",
                                      details={"excluded": routed.decision.excluded})
        return PreparedChat(routed.decision, chain, call, api_key)
    return PreparedChat(*_pinned(request.model, said.tokens, cohort, api_key), call, api_key)


def named_model_for_cohort(name: str, cohort: Cohort) -> LLM:
    """A model the caller named (no routing): it must exist, and the cohort's pool and denials still hold."""
    snapshot = snapshots.get()
    llm = snapshot.model_named(name)
    if llm is None or not llm.is_active:
        raise OptiRouteError(f"unknown model {name!r}; GET /v1/models lists the models and profiles you may use",
                             status=404, code="model_not_found")
    pool = snapshot.pools.get(cohort.pk, frozenset())
    denied = engine.Constraints.of_cohort(cohort).denied_models
    if (pool and llm.id not in pool) or llm.name in denied:
        raise OptiRouteError(f"model {name!r} is outside the model pool of cohort {cohort.name}",
                             status=403, code="model_not_allowed")
    return llm


def _pinned(name: str, tokens: int, cohort: Cohort, api_key: ApiKey) -> tuple[Decision, inference.Chain]:
    llm = named_model_for_cohort(name, cohort)
    decision = Decision(
        mode=Decision.Mode.CHAT, api_key=api_key, cohort=cohort, chosen_model=llm, strategy="pinned",
        analysis={"tokens": tokens}, explanation=f"The caller named {llm.name}; no routing.")
    reason = unusable_reason(llm)
    chain = inference.Chain(models=[] if reason else [llm])
    if reason:
        chain.attempts.append({"model": llm.name, "outcome": "skipped", "error": reason})
    return decision, chain


def _cost(llm: LLM, input_tokens: int, output_tokens: int) -> float:
    return llm.estimated_cost_usd(input_tokens, output_tokens) or 0.0


def usage_build(*, prepared: PreparedChat, llm: LLM, input_tokens: int, output_tokens: int) -> Usage:
    """The accounting of one answered call; stored with its decision by the recorder."""
    cohort = prepared.api_key.cohort
    cost = _cost(llm, input_tokens, output_tokens)
    baseline = cohort.baseline_model
    baseline_cost = _cost(baseline, input_tokens, output_tokens) if baseline else None
    # One row per decision (a unique key): a call can never be accounted twice.
    return Usage(
        decision=prepared.decision, api_key=prepared.api_key, cohort=cohort, llm=llm, input_tokens=input_tokens,
        output_tokens=output_tokens, cost_usd=cost, baseline_cost_usd=baseline_cost,
        saving_usd=None if baseline_cost is None else baseline_cost - cost)


def _finish_decision(prepared: PreparedChat, llm: LLM | None, usage: Usage | None = None) -> None:
    """Store the decision once, with what happened, and the call's usage when it was answered."""
    decision = prepared.decision
    decision.answered_by = llm
    decision.attempts = prepared.chain.attempts
    decision.notices = prepared.chain.notices
    # Routing's own fallback (e.g. to generalists without evidence), then inference's.
    decision.fallback_reason = "; ".join(r for r in (decision.fallback_reason, prepared.chain.fallback_reason) if r)
    recorder.record(decision, usage)


def optiroute_field(prepared: PreparedChat, usage: Usage | None) -> dict[str, Any]:
    decision = prepared.decision
    return {"decision_id": str(decision.id), "chosen_model": decision.chosen_model.name if decision.chosen_model else None,
            "model": decision.answered_by.name if decision.answered_by else None,
            "strategy": decision.strategy, "cost_usd": usage.cost_usd if usage else None,
            "baseline_cost_usd": usage.baseline_cost_usd if usage else None,
            "saving_usd": usage.saving_usd if usage else None, "notices": decision.notices,
            "fallback_reason": decision.fallback_reason or None, "explanation": decision.explanation}


def chat_complete(*, prepared: PreparedChat) -> dict[str, Any]:
    try:
        completion, llm = inference.complete(prepared.chain, prepared.call)
    except inference.AllProvidersFailed as exc:
        _finish_decision(prepared, None)
        raise OptiRouteError(exc.message, status=502, code="upstream_failed",
                             details={"decision_id": str(prepared.decision.id), "attempts": exc.attempts}) from exc
    input_tokens = completion.input_tokens or _prompt_tokens(prepared)
    output_tokens = completion.output_tokens or estimate_tokens(completion.content)
    usage = usage_build(prepared=prepared, llm=llm, input_tokens=input_tokens, output_tokens=output_tokens)
    _finish_decision(prepared, llm, usage)
    return {
        "id": f"chatcmpl-{prepared.decision.id.hex}", "object": "chat.completion",
        "created": int(time.time()), "model": llm.name,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": completion.content},
                     "finish_reason": completion.finish_reason}],
        "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                  "total_tokens": input_tokens + output_tokens},
        "optiroute": optiroute_field(prepared, usage)}


def chat_stream(*, prepared: PreparedChat, include_usage: bool = False) -> Iterator[str]:
    """Server-sent events exactly as OpenAI streams them, then OptiRoute's own field, then [DONE]."""
    base = {"id": f"chatcmpl-{prepared.decision.id.hex}", "object": "chat.completion.chunk",
            "created": int(time.time())}
    answered: LLM | None = None
    content: list[str] = []
    tokens_in = tokens_out = None
    finish = "stop"
    try:
        for llm, delta in inference.stream(prepared.chain, prepared.call):
            if answered is None:
                answered = llm
                yield _sse({**base, "model": llm.name, "choices": [
                    {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
            if delta.content:
                content.append(delta.content)
                yield _sse({**base, "model": llm.name, "choices": [
                    {"index": 0, "delta": {"content": delta.content}, "finish_reason": None}]})
            tokens_in = delta.input_tokens if delta.input_tokens is not None else tokens_in
            tokens_out = delta.output_tokens if delta.output_tokens is not None else tokens_out
            finish = delta.finish_reason or finish
    except ProviderError as exc:
        partial = None
        if answered is not None and content:  # what reached the caller was generated, and is paid for
            partial = usage_build(prepared=prepared, llm=answered, input_tokens=tokens_in or _prompt_tokens(prepared),
                                  output_tokens=tokens_out or estimate_tokens("".join(content)))
        _finish_decision(prepared, answered if content else None, partial)
        yield _sse({"error": {"message": exc.message, "type": "upstream_failed", "code": "upstream_failed",
                              "decision_id": str(prepared.decision.id)}})
        yield "data: [DONE]\n\n"
        return
    assert answered is not None
    tokens_in = tokens_in or _prompt_tokens(prepared)
    tokens_out = tokens_out or estimate_tokens("".join(content))
    usage = usage_build(prepared=prepared, llm=answered, input_tokens=tokens_in, output_tokens=tokens_out)
    _finish_decision(prepared, answered, usage)
    final: dict[str, Any] = {**base, "model": answered.name,
                             "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
                             "optiroute": optiroute_field(prepared, usage)}
    yield _sse(final)
    if include_usage:
        yield _sse({**base, "model": answered.name, "choices": [],
                    "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                              "total_tokens": tokens_in + tokens_out}})
    yield "data: [DONE]\n\n"


def _prompt_tokens(prepared: PreparedChat) -> int:
    return estimate_tokens(" ".join(m["content"] for m in prepared.call.messages))


def _sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


BROWSER_HISTORY = 20  # earlier messages of a browser conversation that are sent along


def chat_browser_send(*, api_key: ApiKey, history: list[dict[str, str]], text: str, profile: str) -> dict[str, Any]:
    """One browser chat turn: the conversation so far plus the new message, routed by a profile."""
    messages = [*history[-BROWSER_HISTORY:], {"role": "user", "content": text}]
    prepared = chat_prepare(request=ChatRequest(model=PROFILE_PREFIX + profile, messages=messages), api_key=api_key)
    return chat_complete(prepared=prepared)


def models_for_key(*, api_key: ApiKey) -> list[dict[str, Any]]:
    """What GET /v1/models lists: the routing profiles, then the models of the key's pool."""
    created = int(api_key.created_at.timestamp())
    entries = [{"id": f"{PROFILE_PREFIX}auto", "object": "model", "created": created, "owned_by": "optiroute"}]
    entries += [{"id": f"{PROFILE_PREFIX}{name}", "object": "model", "created": created, "owned_by": "optiroute"}
                for name in PreferenceProfile.objects.order_by("name").values_list("name", flat=True)]
    models = LLM.objects.active().select_related("provider").order_by("name")
    pool = api_key.cohort.allowed_models.all()
    if pool.exists():
        models = models.filter(id__in=pool)
    entries += [{"id": m.name, "object": "model", "created": int(m.created_at.timestamp()),
                 "owned_by": m.provider.name, "optiroute": {"callable": not unusable_reason(m)}} for m in models]
    return entries
