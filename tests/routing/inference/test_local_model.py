"""With no provider keys at all, chat still works: through the embedded SmolLM2 model."""

import json

import pytest

from routing.models import Decision

pytestmark = pytest.mark.django_db
SHORT = {"max_tokens": 12, "temperature": 0.0}


def test_without_keys_a_routed_chat_falls_back_to_the_local_model_and_says_so(keyless_api):
    question = [{"role": "user", "content": "What is the capital of France?"}]
    response = keyless_api.post("/v1/chat/completions", {"model": "optiroute/quality-first", **SHORT,
                                                         "messages": question}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model"] == "smollm2-135m-instruct"
    assert body["choices"][0]["message"]["content"].strip()
    assert body["usage"]["completion_tokens"] > 0
    chosen = body["optiroute"]["chosen_model"]
    assert chosen != "smollm2-135m-instruct"
    assert any(f"routing chose {chosen}, which cannot be called" in n and "is not set" in n
               for n in body["optiroute"]["notices"])
    assert Decision.objects.get(pk=body["optiroute"]["decision_id"]).answered_by.name == "smollm2-135m-instruct"


def test_the_local_model_streams(keyless_api):
    response = keyless_api.post("/v1/chat/completions", {"model": "smollm2-135m-instruct", "stream": True, **SHORT,
                                                         "messages": [{"role": "user", "content": "Say hi."}]},
                                format="json")
    events = [e[6:] for e in b"".join(response.streaming_content).decode().split("\n\n") if e]
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-1]
                   if json.loads(e).get("choices"))
    assert text.strip()


def test_the_local_model_is_a_fallback_even_when_the_task_filter_left_it_out(keyless_api):
    request = [{"role": "user", "content": "Translate 'good night' into French."}]
    response = keyless_api.post("/v1/chat/completions", {"model": "optiroute/auto", **SHORT, "messages": request},
                                format="json")
    assert response.status_code == 200, response.content
    assert response.json()["model"] == "smollm2-135m-instruct"
