"""Streamed answers: the page's events, and a stopped stream kept as a partial answer, billed once."""

import json

import pytest

from routing.access.keys import get_chat_key_for_user
from routing.chat.services import chat_turn_prepare, chat_turn_stream, conversation_start
from routing.models import Conversation, Decision, Message, Usage

pytestmark = pytest.mark.django_db


def events(response):
    raw = b"".join(response.streaming_content).decode()
    found = []
    for block in raw.strip().split("\n\n"):
        name, data = block.split("\n")
        found.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return found


def test_it_streams_the_answer_then_the_finished_turn(fake_provider, client, member):
    response = client.post("/chat/stream/", {"message": "Say hello to the team.", "profile": "auto"})
    assert response["Content-Type"] == "text/event-stream"
    found = events(response)
    conversation = Conversation.objects.get()
    assert found[0] == ("conversation", {"id": conversation.pk, "url": f"/chat/c/{conversation.pk}/",
                                         "title": "Say hello to the team."})
    deltas = [data["text"] for name, data in found if name == "delta"]
    assert len(deltas) > 1 and "".join(deltas) == "Hello from the local provider."
    name, done = found[-1]
    assert name == "done" and "fake-ok" in done["html"] and "Why this model" in done["html"]
    answer = conversation.messages.get(role="assistant")
    assert answer.status == Message.Status.COMPLETE and answer.content == "".join(deltas) and answer.cost_usd > 0
    assert Usage.objects.count() == 1


def test_a_stopped_stream_keeps_the_partial_answer_and_bills_it_once(fake_provider, member):
    key = get_chat_key_for_user(member)
    conversation = conversation_start(user=member, text="Say hello")
    prepared, answer = chat_turn_prepare(conversation=conversation, api_key=key, text="Say hello")
    stream = chat_turn_stream(prepared=prepared, answer=answer)
    first = next(stream)
    stream.close()  # the reader went away
    kept = conversation.messages.get(role="assistant")
    assert kept.status == Message.Status.PARTIAL and kept.content == first and kept.model_name == "fake-ok"
    assert kept.meta["explanation"] == Decision.objects.get().explanation  # its reasons, as a finished one
    usage = Usage.objects.get()
    assert usage.decision_id == kept.decision_id and kept.cost_usd == usage.cost_usd


def test_a_stream_that_fails_upstream_keeps_what_came(fake_provider, member):
    from registry.models import LLM

    LLM.objects.filter(name="fake-ok").update(api_model_id="fake-cut")
    key = get_chat_key_for_user(member)
    conversation = conversation_start(user=member, text="Say hello")
    prepared, answer = chat_turn_prepare(conversation=conversation, api_key=key, text="Say hello")
    text = "".join(chat_turn_stream(prepared=prepared, answer=answer))
    kept = conversation.messages.get(role="assistant")
    assert kept.content == text and kept.status in (Message.Status.PARTIAL, Message.Status.ERROR)
    assert Usage.objects.count() <= 1 and kept.meta["error"]
