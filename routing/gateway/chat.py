"""A chat request through the gateway: which model answers it (routed, or the one named), and
the fallback chain of the same decision; then the decision recorded with what happened."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from optiroute import logs
from optiroute.api_errors import OptiRouteError
from registry.models import LLM, Provider
from routing.access.budgets import budget_left
from routing.access.limits import tokens_spend
from routing.analysis.text import routing_text
from routing.cascade.runtime import Cascade, cascade_plan, cascade_start, cascade_wanted
from routing.engine.constraints import Constraints
from routing.engine.request import Candidate, RoutingError
from routing.engine.snapshot import snapshots
from routing.inference.chain import Chain, chain_build
from routing.inference.circuit import breaker
from routing.inference.providers import ChatCall, unusable_reason
from routing.models import ApiKey, Cohort, Decision, PreferenceProfile, Usage
from routing.pipeline import decision_make
from routing.recorder import recorder

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
    chain: Chain
    call: ChatCall
    api_key: ApiKey
    cascade: Cascade | None = None  # opted in and planned (routing.cascade.runtime)


def chat_prepare(*, request: ChatRequest, api_key: ApiKey, mode: str = Decision.Mode.CHAT) -> PreparedChat:
    """Decide which model answers (or check the one named), and the fallback chain. The browser
    chat's preview asks as a dry run (`mode`): the same decision, without exploration's draw."""
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
            mode=mode, output_tokens=request.max_tokens or options.get("max_output_tokens"),
            unavailable=breaker.open_circuits(snapshots.get().models), save=False)
        chain = chain_build(routed.ranking, allow_escalation=bool(options.get("allow_escalation")))
        if not chain.models and all(c.llm.provider.kind == Provider.Kind.EVALUATION for c in routed.ranking):
            # Nothing can fail upstream: the models that fit this request are evidence, not answerers.
            raise RoutingError("no model that can be called fits this request; those that fit are known only "
                               f"from evaluation data: {', '.join(c.llm.name for c in routed.ranking)}",
                               details={"excluded": routed.decision.excluded})
        cascade = None
        # The browser chat's preview plans the cascade too (planning calls no model).
        if mode in (Decision.Mode.CHAT, Decision.Mode.DRY_RUN) and cascade_wanted(requested=options.get("cascade"),
                                                         profile=routed.decision.profile, cohort=cohort):
            cascade = _cascade_for(routed.decision, routed.ranking, chain, said.latest)
        return PreparedChat(routed.decision, chain, call, api_key, cascade)
    return PreparedChat(*_pinned(request.model, said.tokens, cohort, api_key), call, api_key)


def route_dry_run(*, text: str, context: str, tokens: int, api_key: ApiKey, profile: str | None = None,
                  preferences: dict[str, float] | None = None, constraints: dict[str, Any] | None = None,
                  strategy: str | None = None, output_tokens: int | None = None,
                  cascade: bool | None = None) -> Decision:
    """POST /api/v1/route: the decision a chat completion would get, recorded, without calling a
    model; with the cascade it would run, where it would run one (the request's, cohort's or
    profile's choice), planned as the gateway plans it."""
    cohort = api_key.cohort
    routed = decision_make(text=text, context=context, tokens=tokens, profile=profile, preferences=preferences,
                           constraints=constraints, cohort=cohort, api_key=api_key, strategy=strategy,
                           output_tokens=output_tokens, save=False)
    if cascade_wanted(requested=cascade, profile=routed.decision.profile, cohort=cohort):
        _cascade_for(routed.decision, routed.ranking, chain_build(routed.ranking, allow_escalation=False), text)
    recorder.record(routed.decision)
    return routed.decision


def _cascade_for(decision: Decision, ranking: list[Candidate], chain: Chain, text: str) -> Cascade | None:
    """The request's cascade, recorded on its decision as planned (or why there is none)."""
    cascade, why = cascade_plan(text=text, task_type=decision.analysis.get("task_type", ""), ranking=ranking,
                                chain=chain, weights=decision.weights,
                                max_cost_usd=decision.constraints.get("max_cost_usd"))
    decision.cascade = cascade_start(cascade) if cascade else {"skipped": why}
    return cascade


def named_model_for_cohort(name: str, cohort: Cohort) -> LLM:
    """A model the caller named (no routing): it must exist, and the cohort's pool and denials still hold."""
    snapshot = snapshots.get()
    llm = snapshot.model_named(name)
    if llm is None or not llm.is_active:
        raise OptiRouteError(f"unknown model {name!r}; GET /v1/models lists the models and profiles you may use",
                             status=404, code="model_not_found")
    pool = snapshot.pools.get(cohort.pk, frozenset())
    denied = Constraints.of_cohort(cohort).denied_models
    if (pool and llm.id not in pool) or llm.name in denied:
        raise OptiRouteError(f"model {name!r} is outside the model pool of cohort {cohort.name}",
                             status=403, code="model_not_allowed")
    return llm


def _pinned(name: str, tokens: int, cohort: Cohort, api_key: ApiKey) -> tuple[Decision, Chain]:
    llm = named_model_for_cohort(name, cohort)
    decision = Decision(
        mode=Decision.Mode.CHAT, api_key=api_key, cohort=cohort, chosen_model=llm, strategy="pinned",
        analysis={"tokens": tokens}, explanation=f"The caller named {llm.name}; no routing.")
    logs.decision_id.set(str(decision.id))
    reason = unusable_reason(llm)
    chain = Chain(models=[] if reason else [llm])
    if reason:
        chain.attempts.append({"model": llm.name, "outcome": "skipped", "error": reason})
    return decision, chain


def decision_finish(prepared: PreparedChat, llm: LLM | None, usage: Usage | None = None) -> None:
    """Store the decision once, with what happened, and the call's usage when it was answered."""
    decision = prepared.decision
    decision.answered_by = llm
    decision.attempts = prepared.chain.attempts
    decision.notices = prepared.chain.notices
    # Routing's own fallback (e.g. to generalists without evidence), then inference's.
    decision.fallback_reason = "; ".join(r for r in (decision.fallback_reason, prepared.chain.fallback_reason) if r)
    recorder.record(decision, usage)
    if usage is not None and usage.api_key is not None:
        tokens_spend(usage.api_key, usage.input_tokens + usage.output_tokens)


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
