"""The chat's "Check a cheap answer first" setting: sent as the request's cascade option, shown
with each profile's and cohort's default, and the answer's routing details saying in brief what
the cascade did."""

import html
import json
import re

import pytest

from routing.models import SLIDERS, Cohort, Conversation, Decision
from tests.routing.cascades import QUESTION, TERMS, answering

pytestmark = pytest.mark.django_db


def form(**extra):
    """The trio's question on the cascade tests' weights (quality well above cost)."""
    weights = {s: TERMS["optiroute"]["preferences"].get(s, 0.0) for s in SLIDERS}
    return {"message": QUESTION, "profile": "balanced", **weights, **extra}


def details(client, conversation):
    """The last answer's routing details as text."""
    page = client.get(f"/chat/c/{conversation.pk}/").content.decode()
    article = re.findall(r'<article class="msg assistant.*?</article>', page, re.S)[-1]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", article)).split())


def test_a_checked_box_cascades_and_the_answer_says_it_passed(trio, client, member):
    answering(small_a="fake-letter-b", small_b="fake-letter-b", large="fake-ok")

    client.post("/chat/", form(cascade="on"))

    conversation = Conversation.objects.get()
    assert conversation.settings["cascade"] is True
    assert Decision.objects.get().cascade["escalated"] is False
    # Both small calls, as the answer's cost says it: $0.0000036.
    text = details(client, conversation)
    assert "cost $0.000004" in text
    assert "Cheap answer checked first: small-a answered B; small-b agreed; returned without escalating, " \
           "$0.000004" in text


def test_the_answer_says_why_the_cascade_escalated_once(trio, client, member):
    answering(small_a="fake-letter-b", small_b="fake-letter-c", large="fake-ok")

    client.post("/chat/", form(cascade="on"))

    text = details(client, Conversation.objects.get())
    assert "Answered by large" in text
    assert "Cheap answer checked first: small-a answered B; small-b disagreed; escalated to large: the second " \
           "model's answer disagreed with the first, $0.000076" in text
    assert text.count("escalated to large") == 1  # the gateway's notice says the same: shown once


def test_an_unchecked_box_sends_no_cascade(trio, client, member):
    answering(small_a="fake-letter-b", small_b="fake-letter-b", large="fake-ok")

    client.post("/chat/", form())

    assert "cascade" not in Conversation.objects.get().settings
    assert Decision.objects.get().cascade == {} and "Cheap answer checked first" not in details(
        client, Conversation.objects.get())


def test_the_box_shows_the_cohorts_default_and_unticking_it_turns_the_cascade_off(trio, client, member):
    answering(small_a="fake-letter-b", small_b="fake-letter-b", large="fake-ok")
    Cohort.objects.filter(name="default").update(cascade=True)

    page = client.get("/chat/").content.decode()
    assert re.search(r'<input type="checkbox" name="cascade"[^>]* checked>', page)
    assert json.loads(html.unescape(re.search(r'data-defaults="([^"]+)"', page).group(1)))["balanced"] is True
    assert "cheap answer checked first</span>" in page  # in the settings' summary

    client.post("/chat/", form())  # the box left unticked

    assert Conversation.objects.get().settings["cascade"] is False
    assert Decision.objects.get().cascade == {}


def test_a_pinned_model_is_not_cascaded(trio, client, member):
    # The gateway cascades only routed requests: a pinned model answers as asked.
    answering(small_a="fake-letter-b", small_b="fake-letter-b", large="fake-ok")

    client.post("/chat/", form(cascade="on", pinned="large"))

    decision = Decision.objects.get()
    assert decision.answered_by.name == "large" and decision.cascade == {}


def test_a_streamed_turn_shows_the_cascade_when_done(trio, client, member):
    answering(small_a="fake-letter-b", small_b="fake-letter-c", large="fake-ok")

    response = client.post("/chat/stream/", form(cascade="on"))

    events = b"".join(response.streaming_content).decode()
    done = json.loads(events.split("event: done\ndata: ")[1].split("\n\n")[0])
    text = html.unescape(done["html"])
    assert "Cheap answer checked first:" in text and "escalated to large: the second model's answer disagreed" in text


def test_the_preview_says_which_cheap_models_answer_first_and_where_it_escalates(trio, client, member):
    answering(small_a="fake-letter-b", small_b="fake-letter-b", large="fake-ok")

    planned = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", client.post(
        "/chat/preview/", form(cascade="on")).content.decode())).split())
    plain = client.post("/chat/preview/", form()).content.decode()

    assert ("Cheap answer first: small-a and small-b answer, then the checks decide; escalates to large when one "
            "fails.") in planned
    assert "Cheap answer first" not in plain
    assert sum(trio.calls.values()) == 0 and not Decision.objects.exists()  # a preview calls and stores nothing
