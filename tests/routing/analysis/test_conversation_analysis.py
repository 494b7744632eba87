"""The latest user message drives a conversation's analysis; earlier turns add context, never outweigh it."""

import pytest
from django.core.management import call_command

from registry.tokens import estimate_tokens
from routing.access.keys import api_key_create
from routing.analysis.text import routing_text
from routing.models import Decision
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db
CODING = "Write a Python function that parses an ISO 8601 timestamp and returns a timezone-aware datetime."
ANSWER = ("```python\nfrom datetime import datetime\n\ndef parse(ts: str) -> datetime:\n"
          "    return datetime.fromisoformat(ts)\n```")
AFTER_CODE = [{"role": "user", "content": CODING}, {"role": "assistant", "content": ANSWER},
              {"role": "user", "content": "Hi there!"}]


@pytest.fixture
def api():
    call_command("import_models")
    return bearer_client(api_key_create(cohort_name=None, label="test")[1])


def route(api, **body):
    response = api.post("/api/v1/route", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_it_analyses_small_talk_after_a_coding_question_as_small_talk(api):
    analysis = route(api, messages=AFTER_CODE)["analysis"]
    assert analysis["task_type"] == "chat"
    assert analysis["domain"] != "software"


def test_it_counts_the_tokens_of_the_whole_conversation(api):
    analysis = route(api, messages=AFTER_CODE)["analysis"]
    assert analysis["tokens"] == estimate_tokens("\n".join(m["content"] for m in AFTER_CODE))


def test_a_single_message_is_analysed_as_its_prompt_would_be(api):
    alone = route(api, prompt=CODING)["analysis"]
    as_message = route(api, messages=[{"role": "user", "content": CODING}])["analysis"]
    assert as_message == alone
    assert alone["task_type"] == "code"


def test_earlier_turns_inform_but_never_outweigh_the_latest_message():
    said = routing_text([{"role": "system", "content": "You are a careful assistant."}, *AFTER_CODE])
    assert said.latest == "Hi there!"
    assert said.context == f"You are a careful assistant.\n{CODING}"
    assert ANSWER not in said.context


def test_the_route_api_and_chat_completions_agree(api, fake_provider):
    routed = route(api, messages=AFTER_CODE)["analysis"]
    response = api.post("/v1/chat/completions", {"model": "optiroute/auto", "messages": AFTER_CODE}, format="json")
    assert response.status_code == 200, response.content
    chatted = Decision.objects.get(pk=response.json()["optiroute"]["decision_id"]).analysis
    assert {k: chatted[k] for k in ("task_type", "domain", "tokens")} == \
        {k: routed[k] for k in ("task_type", "domain", "tokens")}
