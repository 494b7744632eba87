"""The browser chat's conversations: each turn goes through the same gateway path as the API's
(chat_prepare, then chat_complete or chat_stream), and is kept, with what it cost, as messages."""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Iterator
from typing import Any

from django.db import transaction

from optiroute.api_errors import OptiRouteError
from registry.models import LLM
from registry.tokens import estimate_tokens
from routing.access.budgets import usage_build
from routing.engine.snapshot import snapshots
from routing.gateway.chat import PROFILE_PREFIX, ChatRequest, PreparedChat, chat_prepare, decision_finish
from routing.gateway.openai_wire import chat_complete, chat_stream
from routing.inference.providers import unusable_reason
from routing.models import ApiKey, Conversation, Decision, Message

BROWSER_HISTORY = 20  # earlier messages of a conversation that are sent along
TITLE_CHARS = 60


def conversation_start(*, user: Any, text: str, settings: dict[str, Any] | None = None) -> Conversation:
    title = " ".join(text.split())
    title = title if len(title) <= TITLE_CHARS else title[:TITLE_CHARS - 1].rstrip() + "…"
    return Conversation.objects.create(user=user, title=title or "New conversation", settings=settings or {})


def chat_turn_prepare(*, conversation: Conversation, api_key: ApiKey, text: str) -> tuple[PreparedChat | None, Message]:
    """Keep the user's message and route it on the conversation's settings. The answer's message
    comes back unsaved (the caller fills it in); when routing refused, it carries the error and
    there is nothing to prepare."""
    settings = dict(conversation.settings)
    request = _chat_request(conversation=conversation, settings=settings, text=text, model=_model_asked(settings))
    with transaction.atomic():
        Message.objects.create(conversation=conversation, role=Message.Role.USER, content=text)
        # A pinned model answers this one message; the next is routed again.
        conversation.settings = {**settings, "pinned": ""}
        conversation.save(update_fields=["settings", "updated_at"])
    answer = Message(conversation=conversation, role=Message.Role.ASSISTANT, status=Message.Status.PARTIAL)
    try:
        prepared = chat_prepare(request=request, api_key=api_key)
    except OptiRouteError as exc:
        answer.status, answer.meta = Message.Status.ERROR, {"error": exc.message}
        answer.save()
        return None, answer
    answer.decision_id = prepared.decision.id
    pinned = settings.get("pinned")
    switch = f"You pinned {pinned} for this message: no routing." if pinned else model_stick(
        prepared=prepared, conversation=conversation)
    # The reasons are known now: a stopped answer keeps them too.
    answer.meta = {"switch": switch, "explanation": prepared.decision.explanation}
    return prepared, answer


def model_stick(*, prepared: PreparedChat, conversation: Conversation) -> str:
    """Within a conversation, the previous turn's model answers again unless routing's new choice
    beats it by more than the cohort's margin. Says what happened (empty: nothing to say)."""
    previous = (conversation.messages.filter(role=Message.Role.ASSISTANT, status=Message.Status.COMPLETE)
                .exclude(model_name="").last())
    decision = prepared.decision
    chosen = decision.chosen_model.name if decision.chosen_model else ""
    if previous is None or not chosen or previous.model_name == chosen:
        return ""
    before, margin = previous.model_name, prepared.api_key.cohort.switch_margin()
    utilities = {c["model"]: c["utility"] for c in decision.candidates}
    llm = snapshots.get().model_named(before)
    if before not in utilities or llm is None or unusable_reason(llm):
        return f"Switched from {before} to {chosen}: {before} cannot answer this message on these settings."
    gain = utilities[chosen] - utilities[before]
    if gain > margin:
        return (f"Switched from {before} to {chosen}: its utility {utilities[chosen]:.3f} beats {before}'s "
                f"{utilities[before]:.3f} by more than the margin {margin:g}.")
    prepared.chain.models = [llm, *(m for m in prepared.chain.models if m.pk != llm.pk)]
    decision.chosen_model = llm
    decision.explanation = (f"Kept {before} from the previous turn: {chosen} scored only {gain:.3f} higher, "
                            f"within the margin {margin:g}. Routing alone: {decision.explanation}")
    return ""


def chat_preview_make(*, api_key: ApiKey, text: str, settings: dict[str, Any],
                      conversation: Conversation | None = None) -> dict[str, Any]:
    """What sending `text` now would do, as a dry run that is not stored: the same request as a
    turn (the conversation's earlier messages as context) and the same stickiness. Who would
    answer, the next two, the reasons, the expected cost."""
    profile = PROFILE_PREFIX + (settings.get("profile") or "auto")  # a pin is shown beside routing's choice
    request = _chat_request(conversation=conversation, settings=settings, text=text, model=profile)
    prepared = chat_prepare(request=request, api_key=api_key, mode=Decision.Mode.DRY_RUN)
    switch = model_stick(prepared=prepared, conversation=conversation) if conversation is not None else ""
    decision = prepared.decision
    chosen = decision.chosen_model.name if decision.chosen_model else ""
    ranked = sorted(decision.candidates, key=lambda c: c["model"] != chosen)  # stable: the kept model first
    return {"candidates": ranked[:3], "explanation": decision.explanation, "switch": switch,
            "profile": decision.profile, "pinned": settings.get("pinned") or "", "cascade": decision.cascade}


def chat_turn_send(*, conversation: Conversation, api_key: ApiKey, text: str) -> Message:
    """One turn answered in one piece (the page without JavaScript)."""
    prepared, answer = chat_turn_prepare(conversation=conversation, api_key=api_key, text=text)
    if prepared is None:
        return answer
    started = time.perf_counter()
    try:
        reply = chat_complete(prepared=prepared)
    except OptiRouteError as exc:
        answer.status, answer.meta = Message.Status.ERROR, {"error": exc.message}
    else:
        choice = reply["choices"][0]
        answer.content, answer.finish_reason = choice["message"]["content"], choice["finish_reason"] or ""
        _answered(answer, reply["optiroute"])
    answer.latency_ms = _ms_since(started)
    answer.save()
    return answer


def chat_turn_stream(*, prepared: PreparedChat, answer: Message) -> Iterator[str]:
    """The answer's text as the model generates it, piece by piece; the message is kept at the end.

    Upstream failure mid-answer keeps the text so far, marked partial, billed by chat_stream.
    A reader who stops (closes this generator) leaves chat_stream unfinished, so what was
    generated up to then is billed here, once.
    """
    started = time.perf_counter()
    parts: list[str] = []
    model_name = ""
    events: Generator[str, None, None] = chat_stream(prepared=prepared)  # type: ignore[assignment]
    finished = False
    try:
        for event in events:
            data = event.removeprefix("data: ").strip()
            if data == "[DONE]":
                break
            payload = json.loads(data)
            model_name = payload.get("model", model_name)
            if "error" in payload:
                answer.status = Message.Status.PARTIAL if parts else Message.Status.ERROR
                answer.meta = {**answer.meta, "error": payload["error"]["message"]}
                continue
            choice = payload["choices"][0] if payload.get("choices") else {}
            if text := choice.get("delta", {}).get("content"):
                parts.append(text)
                yield text
            answer.finish_reason = choice.get("finish_reason") or answer.finish_reason
            if "optiroute" in payload:
                _answered(answer, payload["optiroute"])
        finished = True
    finally:
        answer.content = "".join(parts)
        answer.latency_ms = _ms_since(started)
        if not finished:
            events.close()
            answer.status = Message.Status.PARTIAL
            answer.meta = {**answer.meta, "error": "stopped before the end of the answer"}
            _bill_stopped(prepared, answer, model_name)
        answer.save()


def _answered(answer: Message, field: dict[str, Any]) -> None:
    answer.status = Message.Status.COMPLETE
    answer.model_name = field.get("model") or ""
    answer.cost_usd, answer.saving_usd = field.get("cost_usd"), field.get("saving_usd")
    answer.meta = {**answer.meta, "explanation": field.get("explanation") or "", "notices": field.get("notices") or [],
                   "fallback_reason": field.get("fallback_reason") or "",
                   "baseline_cost_usd": field.get("baseline_cost_usd"), "cascade": field.get("cascade")}


def _bill_stopped(prepared: PreparedChat, answer: Message, model_name: str) -> None:
    llm: LLM | None = snapshots.get().model_named(model_name) if model_name and answer.content else None
    usage = None
    if llm is not None:
        usage = usage_build(decision=prepared.decision, api_key=prepared.api_key, llm=llm,
                            input_tokens=estimate_tokens(" ".join(m["content"] for m in prepared.call.messages)),
                            output_tokens=estimate_tokens(answer.content))
        answer.model_name, answer.cost_usd, answer.saving_usd = llm.name, usage.cost_usd, usage.saving_usd
    decision_finish(prepared, llm, usage)


def _chat_request(*, conversation: Conversation | None, settings: dict[str, Any], text: str, model: str) -> ChatRequest:
    """A turn as the gateway takes it: the conversation's last messages (failed ones left out),
    then `text`, on the conversation's preferences and constraints."""
    earlier = (conversation.messages if conversation else Message.objects.none()).exclude(
        status=Message.Status.ERROR).exclude(content="")
    history = [{"role": m.role, "content": m.content} for m in earlier]
    return ChatRequest(model=model, messages=[*history[-BROWSER_HISTORY:], {"role": "user", "content": text}],
                       options={"preferences": settings.get("preferences") or None,
                                "constraints": settings.get("constraints") or None,
                                "cascade": settings.get("cascade")})


def _model_asked(settings: dict[str, Any]) -> str:
    """A model pinned for this message, else the conversation's profile (auto: the cohort's default)."""
    return settings.get("pinned") or PROFILE_PREFIX + (settings.get("profile") or "auto")


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
