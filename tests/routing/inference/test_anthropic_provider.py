"""The Anthropic provider speaks the Messages API (against a local server), plain and streamed."""

import json

import pytest
from rest_framework.test import APIClient

from registry.models import LLM, Provider
from routing.access.keys import api_key_create
from routing.models import Usage
from tests.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(monkeypatch):
    server = FakeOpenAIServer().start()
    monkeypatch.setenv("FAKE_ANTHROPIC_KEY", "sk-ant-test")
    provider = Provider.objects.create(name="fake-anthropic", kind="anthropic", base_url=server.url.removesuffix("/v1"),
                                       api_key_env="FAKE_ANTHROPIC_KEY")
    LLM.objects.create(name="claude-test", provider=provider, api_model_id="claude-test-1", input_price_per_mtok=1,
                       output_price_per_mtok=5, context_window=200000)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(cohort_name=None)[1]}")
    yield client, server
    server.shutdown()


MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]


def test_it_answers_through_the_messages_api(api):
    client, server = api
    body = client.post("/v1/chat/completions", {"model": "claude-test", "messages": MESSAGES}, format="json").json()
    assert body["choices"][0]["message"]["content"] == "Hello from the local provider."
    assert body["usage"]["total_tokens"] == 18
    assert server.last_auth == "sk-ant-test"
    assert server.last_body["system"] == "Be brief." and server.last_body["messages"] == [MESSAGES[1]]
    assert server.last_body["model"] == "claude-test-1" and server.last_body["max_tokens"] > 0
    assert Usage.objects.get().cost_usd == pytest.approx((12 * 1 + 6 * 5) / 1e6)


def test_it_streams_through_the_messages_api(api):
    client, _ = api
    response = client.post("/v1/chat/completions", {"model": "claude-test", "messages": MESSAGES, "stream": True},
                           format="json")
    events = [e[6:] for e in b"".join(response.streaming_content).decode().split("\n\n") if e]
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-1]
                   if json.loads(e).get("choices"))
    assert text == "Hello from the local provider." and events[-1] == "[DONE]"
    assert Usage.objects.get().output_tokens == 6
