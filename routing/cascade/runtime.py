"""Cascades at run time: whether a request is cascaded, its plan, and the calls and checks it makes.

A cascade calls the plan's first model (and its second, side by side), applies the checks
to the first answer, and returns it when they pass; otherwise it calls the model the policy
prefers once those calls are paid for. Every model it may call is one of the decision's chain
(routing.inference.chain.chain_build): each meets the hard constraints, and none is pricier than
the request allows. A plan whose calls could together cost more than the request's
`max_cost_usd` (the cohort's budget left included) is not run.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from registry.models import LLM, EvaluationResult
from routing.cascade.checks import CODE, AnswerFormat, answer_format
from routing.cascade.policy import CascadePolicy, Choice, Reading, pattern, policy_learn, reading, verdicts
from routing.engine.request import Candidate
from routing.engine.snapshot import snapshots
from routing.inference.chain import AllProvidersFailed, Chain, complete
from routing.inference.providers import ChatCall, Completion
from routing.models import Cohort, PreferenceProfile


def cascade_wanted(*, requested: bool | None, profile: str, cohort: Cohort | None) -> bool:
    """The request's own choice, else its cohort's and profile's default (cascade_defaults)."""
    if requested is not None:
        return requested
    defaults = cascade_defaults(cohort=cohort, profiles=PreferenceProfile.objects.filter(name=profile))
    return defaults.get(profile, bool(cohort is not None and cohort.cascade))


def cascade_defaults(*, cohort: Cohort | None, profiles: Iterable[PreferenceProfile]) -> dict[str, bool]:
    """Per profile, whether its requests cascade when they do not say: when their cohort or the
    profile opted in."""
    return {p.name: bool(cohort is not None and cohort.cascade) or p.cascade for p in profiles}


def policy_current() -> CascadePolicy:
    """The policy learned from every dataset whose train results carry responses; relearned with
    the registry snapshot (an import or a fold replaces it)."""
    snapshot = snapshots.get()
    key = ("cascade_policy",)
    if key not in snapshot.memo:
        datasets = tuple(EvaluationResult.objects.exclude(response="").filter(prompt__split="train").values_list(
            "prompt__dataset_id", flat=True).distinct())
        snapshot.memo[key] = policy_learn(dataset_ids=datasets)
    return snapshot.memo[key]  # type: ignore[return-value]


@dataclass
class Cascade:
    fmt: AnswerFormat
    choice: Choice
    models: dict[int, LLM]  # the chain's models by id
    record: dict[str, Any] = field(default_factory=dict)  # what the decision keeps of it
    # The calls answered so far, as (model, input tokens, output tokens): billed even when the
    # escalation then fails.
    paid: list[tuple[LLM, int, int]] = field(default_factory=list)

    @property
    def plan(self) -> Any:
        assert self.choice.plan is not None
        return self.choice.plan


def cascade_plan(*, text: str, task_type: str, ranking: list[Candidate], chain: Chain,
                 weights: dict[str, float], max_cost_usd: float | None) -> tuple[Cascade | None, str]:
    """The plan for this request, or None and why there is none."""
    fmt = answer_format(text)
    if fmt is None:
        return None, "the request asks for no answer that a check can read (long text)"
    models = {m.id: m for m in chain.models}
    candidates = [c for c in ranking if c.llm.id in models]
    if not candidates:
        return None, "no model that can be called"
    quality, cost = weights.get("accuracy", 0.0), weights.get("cost", 0.0)
    weight = cost / (quality + cost) if quality + cost > 0 else 0.5
    choice = policy_current().choose(fmt, task_type, candidates, np.array([weight]))[0]
    if choice.plan is None:
        return None, "calling the routed model directly is worth more than any cascade the evidence supports"
    costs = {c.llm.id: c.cost_usd for c in candidates}
    calls = sum(costs[m] for m in choice.plan.calls)
    worst = calls + max((costs[m] for m in choice.answer if m not in choice.plan.calls), default=0.0)
    if max_cost_usd is not None and worst > max_cost_usd:
        return None, f"a cascade could cost ${worst:.6f}, more than the ${max_cost_usd:.6f} this request allows"
    return Cascade(fmt, choice, models), ""


@dataclass
class CascadeResult:
    completion: Completion | None  # None: the answer is to be streamed from `llm`
    llm: LLM
    # The calls before the answering one, as (model, input tokens, output tokens), for the bill.
    paid: list[tuple[LLM, int, int]]


def cascade_run(cascade: Cascade, chain: Chain, call: ChatCall, *, stream: bool = False) -> CascadeResult:
    """Call the plan's models, check, and return the first answer or escalate. With `stream`, an
    escalation is not called here: the caller streams it."""
    plan = cascade.plan
    steps: list[dict[str, Any]] = []
    answers: dict[int, Completion] = {}
    for llm_id, completion, attempts, error in _cheap_calls(cascade, call):
        llm = cascade.models[llm_id]
        chain.attempts.extend(attempts)
        if completion is None:
            steps.append({"call": llm.name, "outcome": "error", "error": error, "cost_usd": 0.0})
            continue
        answers[llm_id] = completion
        steps.append({"call": llm.name, "outcome": "ok", "cost_usd": _cost(llm, completion)})
    readings: dict[int, Reading] = {m: reading(cascade.fmt, c.content) for m, c in answers.items()}
    paired = plan.second is not None
    if plan.first not in answers or (paired and plan.second not in answers):
        target, passed, why = _escalation(cascade, chain), False, "a cascade call failed"
        check: dict[str, Any] = {"check": "call failed", "passed": False}
    else:
        bits = pattern(readings[plan.first], readings[plan.second] if paired else None)
        target = cascade.choice.answer[bits]
        said = verdicts(bits, paired, cascade.fmt)
        passed = target in answers
        check = {"check": {"format": cascade.fmt.name, **said, "answer": readings[plan.first][0]}, "passed": passed}
        why = "" if passed else _why(said)
    steps.append(check)
    cascade.record.update({"steps": steps, "escalated": not passed, "reason": why})
    paid = cascade.paid = [(cascade.models[m], c.input_tokens or 0, c.output_tokens or 0) for m, c in answers.items()]
    if passed:
        answered = cascade.models[target]
        return CascadeResult(answers[target], answered, [p for p in paid if p[0] != answered])
    escalated = cascade.models[target]
    chain.notices.append(f"escalated to {escalated.name}: {why}")
    if stream:
        steps.append({"call": escalated.name, "outcome": "streamed"})
        return CascadeResult(None, escalated, paid)
    try:
        completion, answered = complete(escalation_chain(cascade, chain, escalated), _copy(call))
    except AllProvidersFailed:
        steps.append({"call": escalated.name, "outcome": "error", "cost_usd": 0.0})
        raise
    steps.append({"call": answered.name, "outcome": "ok", "cost_usd": _cost(answered, completion)})
    return CascadeResult(completion, answered, paid)


def _cheap_calls(cascade: Cascade, call: ChatCall) -> list[tuple[int, Completion | None, list[dict[str, Any]], str]]:
    """The plan's calls side by side, so that a cascade adds the latency of its slowest cheap call
    rather than their sum: per model, in the plan's order, its answer (None when it failed), its
    attempts and the error. The threads touch no database: the chain's models carry their
    providers, loaded when the chain was built."""

    def one(llm_id: int) -> tuple[int, Completion | None, list[dict[str, Any]], str]:
        attempts: list[dict[str, Any]] = []
        try:
            completion, _ = complete(Chain(models=[cascade.models[llm_id]], attempts=attempts), _copy(call))
        except AllProvidersFailed as exc:
            return llm_id, None, attempts, exc.message
        return llm_id, completion, attempts, ""

    calls = cascade.plan.calls
    if len(calls) == 1:
        return [one(calls[0])]
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def escalation_chain(cascade: Cascade, chain: Chain, escalated: LLM) -> Chain:
    """The escalated model, then the decision's other fallbacks that the cascade did not call."""
    rest = [m for m in chain.models if m.id != escalated.id and m.id not in cascade.plan.calls]
    return Chain(models=[escalated, *rest], notices=chain.notices, attempts=chain.attempts)


def cascade_start(cascade: Cascade) -> dict[str, Any]:
    """The plan as the decision records it before any call."""
    plan, names = cascade.plan, cascade.models
    cascade.record.update({
        "first": names[plan.first].name, "second": names[plan.second].name if plan.second else None,
        "checks": [*(["extraction"] if cascade.fmt.kind != CODE else []), "format",
                   *(["agreement"] if plan.second and cascade.fmt.kind != CODE else []), "knn_estimate"],
        "format": cascade.fmt.name,
        "escalates_to": [names[m].name for m in dict.fromkeys(cascade.choice.answer) if m not in plan.calls]})
    return cascade.record


def _escalation(cascade: Cascade, chain: Chain) -> int:
    """Where a failed cascade call escalates: the model the policy escalates to, else the chain's
    best model that the plan did not call."""
    called = cascade.plan.calls
    for llm_id in [*cascade.choice.answer, *(m.id for m in chain.models)]:
        if llm_id not in called:
            return llm_id
    raise AllProvidersFailed(chain.attempts)


def _why(said: dict[str, bool]) -> str:
    if not said.get("extracted", True):
        return "no answer could be read from the first model's response"
    if not said["format_kept"]:
        return "the first model's response ignored the requested format"
    if "agreed" in said and not said["agreed"]:
        return "the second model's answer disagreed with the first"
    return "the checks passed, but the evidence says that answer is not good enough here"


def _cost(llm: LLM, completion: Completion) -> float:
    return llm.estimated_cost_usd(completion.input_tokens or 0, completion.output_tokens or 0) or 0.0


def _copy(call: ChatCall) -> ChatCall:
    return replace(call, model_id="", extra=dict(call.extra))
