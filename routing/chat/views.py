"""The browser chat for end users: conversations kept per user, answers streamed as generated."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from optiroute.api_errors import OptiRouteError
from optiroute.http import HtmxHttpRequest
from routing.access.keys import get_chat_key_for_user
from routing.chat.forms import ChatForm, RenameForm, SettingsForm
from routing.chat.services import chat_preview_make, chat_turn_prepare, chat_turn_send, chat_turn_stream, conversation_start
from routing.console.decisions import constraint_phrases, weights_in_order
from routing.models import ApiKey, Conversation, Decision


def get_conversation_for_user(user: Any, pk: int) -> Conversation:
    # Only the owner: staff included, anyone else gets "not found".
    return get_object_or_404(Conversation.objects.for_user(user), pk=pk)


def get_decision_for_user(user: Any, pk: uuid.UUID) -> Decision:
    """A decision made for one of this user's chat messages; any other is "not found"."""
    queryset = Decision.objects.select_related("cohort", "chosen_model", "answered_by", "usage")
    return get_object_or_404(queryset, pk=pk, api_key__user=user)


@login_required
def chat(request: HtmxHttpRequest, pk: int | None = None) -> HttpResponse:
    conversation = get_conversation_for_user(request.user, pk) if pk is not None else None
    try:
        key = get_chat_key_for_user(request.user)
    except OptiRouteError as exc:
        return render(request, "routing/chat.html", {"blocked": exc.message}, status=exc.status)
    form = ChatForm(request.POST or None, cohort=key.cohort, settings=conversation.settings if conversation else None)
    if request.method == "POST" and form.is_valid():
        text = form.cleaned_data["message"]
        # The "continue" button sends no settings: the conversation keeps its own.
        settings = form.conversation_settings() if "profile" in request.POST else None
        conversation = _conversation_for_turn(request.user, conversation, text, settings)
        chat_turn_send(conversation=conversation, api_key=key, text=text)
        return redirect("chat-conversation", pk=conversation.pk)
    return render(request, "routing/chat.html", _page(request.user, conversation, form),
                  status=400 if form.errors else 200)


@login_required
@require_POST
def chat_stream_view(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The same turn as a plain post, answered as server-sent events: `conversation` (its URL),
    `delta` (text as generated), then `done` with the finished turn's HTML."""
    conversation = _posted_conversation(request)
    try:
        key = get_chat_key_for_user(request.user)
    except OptiRouteError as exc:
        return HttpResponse(exc.message, status=exc.status)
    form = ChatForm(request.POST, cohort=key.cohort)
    if not form.is_valid():
        return HttpResponse(_problems(form), status=400)
    text = form.cleaned_data["message"]
    conversation = _conversation_for_turn(request.user, conversation, text, form.conversation_settings())
    response = StreamingHttpResponse(_events(request, conversation, key, text), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


@login_required
@require_POST
def chat_preview(request: HtmxHttpRequest) -> HttpResponse:
    """Which model would answer the message being typed, on the settings as they stand (dry run)."""
    conversation = _posted_conversation(request)
    try:
        key = get_chat_key_for_user(request.user)
    except OptiRouteError as exc:
        return render(request, "routing/chat.html#preview", {"problem": exc.message})
    form = SettingsForm(request.POST, cohort=key.cohort)
    if not form.is_valid():
        return render(request, "routing/chat.html#preview", {"problem": _problems(form)})
    if not form.cleaned_data["message"]:
        return render(request, "routing/chat.html#preview", {})
    try:
        preview = chat_preview_make(api_key=key, text=form.cleaned_data["message"],
                                    settings=form.conversation_settings(), conversation=conversation)
    except OptiRouteError as exc:
        return render(request, "routing/chat.html#preview", {"problem": exc.message})
    return render(request, "routing/chat.html#preview", {"preview": preview})


@login_required
@require_POST
def chat_rename(request: HttpRequest, pk: int) -> HttpResponse:
    conversation = get_conversation_for_user(request.user, pk)
    form = RenameForm(request.POST)
    if form.is_valid():
        conversation.title = form.cleaned_data["title"]
        conversation.save(update_fields=["title", "updated_at"])
    else:
        messages.error(request, f"The conversation keeps its title: {' '.join(str(e) for e in form.errors['title'])}")
    return redirect("chat-conversation", pk=pk)


@login_required
@require_POST
def chat_delete(request: HttpRequest, pk: int) -> HttpResponse:
    get_conversation_for_user(request.user, pk).delete()
    return redirect("chat")


@login_required
def chat_decision(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    decision = get_decision_for_user(request.user, pk)
    return render(request, "routing/decision_detail.html", {
        "d": decision, "usage": getattr(decision, "usage", None),
        "weights": weights_in_order(decision), "constraints": constraint_phrases(decision.constraints)})


def _events(request: HttpRequest, conversation: Conversation, key: ApiKey, text: str) -> Iterator[str]:
    yield _sse("conversation", {"id": conversation.pk, "url": f"/chat/c/{conversation.pk}/",
                                "title": conversation.title})
    prepared, answer = chat_turn_prepare(conversation=conversation, api_key=key, text=text)
    if prepared is not None:
        for delta in chat_turn_stream(prepared=prepared, answer=answer):
            yield _sse("delta", {"text": delta})
    html = render_to_string("routing/chat.html#answer", {"m": answer}, request=request)
    yield _sse("done", {"html": html, "status": answer.status})


def _posted_conversation(request: HttpRequest) -> Conversation | None:
    """The conversation a page's form names (none: a new one); another person's is "not found"."""
    raw = request.POST.get("conversation", "")
    return get_conversation_for_user(request.user, int(raw)) if raw.isdigit() else None


def _sse(event: str, payload: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(payload)}\n\n"


def _conversation_for_turn(user: Any, conversation: Conversation | None, text: str,
                           settings: dict[str, Any] | None) -> Conversation:
    """The conversation's settings as the form sent them apply from this message on."""
    if conversation is None:
        return conversation_start(user=user, text=text, settings=settings)
    if settings is None:
        return conversation
    conversation.settings = settings
    conversation.save(update_fields=["settings", "updated_at"])
    return conversation


def _problems(form: SettingsForm) -> str:
    return "; ".join(f"{name}: {m}" if name != "__all__" else str(m)
                     for name, errors in form.errors.items() for m in errors)


def _page(user: Any, conversation: Conversation | None, form: ChatForm) -> dict[str, Any]:
    # Not "messages": base.html shows Django's messages framework under that name.
    turns = list(conversation.messages.all()) if conversation else []
    return {"form": form, "conversation": conversation, "turns": turns,
            "conversations": Conversation.objects.for_user(user)[:50], "overridden": form.overridden(),
            "profiles_json": json.dumps(form.profiles), "cascades_json": json.dumps(form.cascades)}
