"""The official `openai` package, pointed at OptiRoute, works unchanged for plain and streamed chats."""

import pytest
from openai import OpenAI

from routing.access.keys import api_key_create


@pytest.fixture
def client(live_server, fake_provider):
    _, raw = api_key_create(cohort_name=None, label="openai-client")
    return OpenAI(base_url=f"{live_server.url}/v1", api_key=raw, max_retries=0)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_openai_package_gets_a_routed_completion(client):
    completion = client.chat.completions.create(
        model="optiroute/auto", messages=[{"role": "user", "content": "Say hello."}],
        extra_body={"optiroute": {"constraints": {"allowed_models": ["fake-ok"]}}})
    assert completion.choices[0].message.content == "Hello from the local provider."
    assert completion.model == "fake-ok" and completion.usage.total_tokens == 18
    assert completion.model_extra["optiroute"]["decision_id"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_openai_package_streams(client):
    stream = client.chat.completions.create(model="fake-ok", messages=[{"role": "user", "content": "Say hello."}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the local provider."
    assert chunks[-1].usage.completion_tokens == 6


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_openai_package_lists_models_and_sees_errors(client):
    ids = [m.id for m in client.models.list()]
    assert "optiroute/auto" in ids and "fake-ok" in ids
    with pytest.raises(Exception) as info:
        client.chat.completions.create(model="missing-model", messages=[{"role": "user", "content": "x"}])
    assert getattr(info.value, "status_code", None) == 404
