"""The OpenAI wire format of a chat completion: one JSON body, or server-sent events exactly as
OpenAI streams them; OptiRoute's own account of the decision travels in the `optiroute` field."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from optiroute.api_errors import OptiRouteError
from registry.models import LLM
from registry.tokens import estimate_tokens
from routing.access.budgets import usage_build
from routing.cascade.runtime import cascade_run, escalation_chain
from routing.gateway.chat import PreparedChat, decision_finish
from routing.inference.chain import AllProvidersFailed, complete, stream
from routing.inference.providers import Delta, ProviderError
from routing.models import Usage


def optiroute_field(prepared: PreparedChat, usage: Usage | None) -> dict[str, Any]:
    decision = prepared.decision
    return {"decision_id": str(decision.id), "chosen_model": decision.chosen_model.name if decision.chosen_model else None,
            "model": decision.answered_by.name if decision.answered_by else None,
            "strategy": decision.strategy, "cost_usd": usage.cost_usd if usage else None,
            "baseline_cost_usd": usage.baseline_cost_usd if usage else None,
            "saving_usd": usage.saving_usd if usage else None, "notices": decision.notices,
            "fallback_reason": decision.fallback_reason or None, "explanation": decision.explanation,
            "cascade": decision.cascade or None}


def chat_complete(*, prepared: PreparedChat) -> dict[str, Any]:
    paid: list[tuple[LLM, int, int]] = []
    try:
        if prepared.cascade is not None:
            result = cascade_run(prepared.cascade, prepared.chain, prepared.call)
            assert result.completion is not None
            completion, llm, paid = result.completion, result.llm, result.paid
        else:
            completion, llm = complete(prepared.chain, prepared.call)
    except AllProvidersFailed as exc:
        decision_finish(prepared, None, _cascade_spent(prepared))
        raise OptiRouteError(exc.message, status=502, code="upstream_failed",
                             details={"decision_id": str(prepared.decision.id), "attempts": exc.attempts}) from exc
    input_tokens = completion.input_tokens or _prompt_tokens(prepared)
    output_tokens = completion.output_tokens or estimate_tokens(completion.content)
    usage = _usage(prepared, llm=llm, input_tokens=input_tokens, output_tokens=output_tokens, paid=paid)
    decision_finish(prepared, llm, usage)
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
    paid: list[tuple[LLM, int, int]] = []
    try:
        deltas, paid = _deltas(prepared)
        for llm, delta in deltas:
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
            partial = _usage(prepared, llm=answered, input_tokens=tokens_in or _prompt_tokens(prepared),
                                  output_tokens=tokens_out or estimate_tokens("".join(content)), paid=paid)
        decision_finish(prepared, answered if content else None, partial or _cascade_spent(prepared))
        yield _sse({"error": {"message": exc.message, "type": "upstream_failed", "code": "upstream_failed",
                              "decision_id": str(prepared.decision.id)}})
        yield "data: [DONE]\n\n"
        return
    assert answered is not None
    tokens_in = tokens_in or _prompt_tokens(prepared)
    tokens_out = tokens_out or estimate_tokens("".join(content))
    usage = _usage(prepared, llm=answered, input_tokens=tokens_in, output_tokens=tokens_out, paid=paid)
    decision_finish(prepared, answered, usage)
    final: dict[str, Any] = {**base, "model": answered.name,
                             "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
                             "optiroute": optiroute_field(prepared, usage)}
    yield _sse(final)
    if include_usage:
        yield _sse({**base, "model": answered.name, "choices": [],
                    "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                              "total_tokens": tokens_in + tokens_out}})
    yield "data: [DONE]\n\n"


def _deltas(prepared: PreparedChat) -> tuple[Iterator[tuple[LLM, Delta]], list[tuple[LLM, int, int]]]:
    """What is streamed: the chain's answer, or a cascade's once its check passed (the checked
    answer) or failed (the escalated model's answer, streamed as it comes)."""
    if prepared.cascade is None:
        return stream(prepared.chain, prepared.call), []
    result = cascade_run(prepared.cascade, prepared.chain, prepared.call, stream=True)
    if result.completion is None:
        return stream(escalation_chain(prepared.cascade, prepared.chain, result.llm), prepared.call), result.paid
    done = result.completion
    return iter([(result.llm, Delta(done.content, done.finish_reason, done.input_tokens or None,
                                    done.output_tokens or None))]), result.paid


def _usage(prepared: PreparedChat, *, llm: LLM, input_tokens: int, output_tokens: int,
           paid: list[tuple[LLM, int, int]] | None = None) -> Usage:
    """The call's usage; a cascade's also bills the calls before the one that answered."""
    usage = usage_build(decision=prepared.decision, api_key=prepared.api_key, llm=llm, input_tokens=input_tokens,
                        output_tokens=output_tokens)
    if prepared.cascade is not None:
        usage.cost_usd += sum(m.estimated_cost_usd(i, o) or 0.0 for m, i, o in paid or [])
        if usage.baseline_cost_usd is not None:
            usage.saving_usd = usage.baseline_cost_usd - usage.cost_usd
        prepared.decision.cascade["cost_usd"] = usage.cost_usd
    return usage


def _cascade_spent(prepared: PreparedChat) -> Usage | None:
    """What a cascade's answered calls cost when no answer came back after them (its escalation
    failed): billed to the first of them, the others added as a cascade's are."""
    if prepared.cascade is None or not prepared.cascade.paid:
        return None
    (llm, input_tokens, output_tokens), *rest = prepared.cascade.paid
    return _usage(prepared, llm=llm, input_tokens=input_tokens, output_tokens=output_tokens, paid=rest)


def _prompt_tokens(prepared: PreparedChat) -> int:
    return estimate_tokens(" ".join(m["content"] for m in prepared.call.messages))


def _sse(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"
