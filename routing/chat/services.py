"""The browser chat's turns, sent through the same gateway path as the API's."""

from __future__ import annotations

from typing import Any

from routing.gateway.chat import PROFILE_PREFIX, ChatRequest, chat_prepare
from routing.gateway.openai_wire import chat_complete
from routing.models import ApiKey

BROWSER_HISTORY = 20  # earlier messages of a browser conversation that are sent along


def chat_browser_send(*, api_key: ApiKey, history: list[dict[str, str]], text: str, profile: str) -> dict[str, Any]:
    """One browser chat turn: the conversation so far plus the new message, routed by a profile."""
    messages = [*history[-BROWSER_HISTORY:], {"role": "user", "content": text}]
    prepared = chat_prepare(request=ChatRequest(model=PROFILE_PREFIX + profile, messages=messages), api_key=api_key)
    return chat_complete(prepared=prepared)
