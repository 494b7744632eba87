"""When inference falls back from the chosen model, the answer and the stored decision say why in
`fallback_reason`, beside the notices (a real local OpenAI-protocol server plays the providers)."""

import json

import pytest
from django.conf import settings
from django.test import override_settings

from registry.models import LLM, Provider
from routing.inference import chain as inference
from routing.inference.circuit import breaker
from routing.inference.providers import ChatCall
from routing.models import Decision

pytestmark = pytest.mark.django_db
HELLO = [{"role": "user", "content": "Say hello to the team."}]
# The failing model wins on quality; fake-ok costs the same, so it may stand in.
BETWEEN = {"model": "optiroute/quality-first", "optiroute": {"constraints": {"allowed_models": ["fake-500", "fake-ok"]}}}


@pytest.fixture(autouse=True)
def failing_model(local_provider):
    return local_provider({"fake-ok": 0.5, "fake-500": (0.5, 0.99)}, key_env="FAKE_OPENAI_KEY").models["fake-500"]


def chat(api, **body):
    response = api.post("/v1/chat/completions", {"messages": HELLO, **body}, format="json")
    assert response.status_code == 200, response.content
    return response


def stored(optiroute):
    return Decision.objects.get(pk=optiroute["decision_id"]).as_dict()


@override_settings(LLM_MAX_RETRIES=0)
def test_it_gives_the_failure_as_the_fallback_reason(api):
    optiroute = chat(api, **BETWEEN).json()["optiroute"]
    assert optiroute["chosen_model"] == "fake-500" and optiroute["model"] == "fake-ok"
    assert optiroute["fallback_reason"].startswith("fake-500 failed (fakeai answered HTTP 500")
    assert any(notice.startswith(optiroute["fallback_reason"]) for notice in optiroute["notices"])
    assert stored(optiroute)["fallback_reason"] == optiroute["fallback_reason"]


@override_settings(LLM_MAX_RETRIES=0)
def test_it_gives_the_fallback_reason_when_streaming(api):
    response = chat(api, stream=True, **BETWEEN)
    events = [e[6:] for e in b"".join(response.streaming_content).decode().split("\n\n") if e]
    optiroute = next(json.loads(e)["optiroute"] for e in events[:-1] if "optiroute" in json.loads(e))
    assert optiroute["model"] == "fake-ok"
    assert optiroute["fallback_reason"].startswith("fake-500 failed (fakeai answered HTTP 500")
    assert stored(optiroute)["fallback_reason"] == optiroute["fallback_reason"]


def test_a_chosen_model_that_cannot_be_called_is_the_fallback_reason(api, failing_model, monkeypatch):
    keyless = Provider.objects.create(name="keyless", kind="openai", base_url="http://127.0.0.1:9/v1",
                                      api_key_env="KEYLESS_API_KEY")
    monkeypatch.delenv("KEYLESS_API_KEY", raising=False)
    failing_model.provider = keyless
    failing_model.save()
    optiroute = chat(api, **BETWEEN).json()["optiroute"]
    assert optiroute["fallback_reason"] == ("routing chose fake-500, which cannot be called "
                                            "(no credentials: KEYLESS_API_KEY is not set)")
    assert stored(optiroute)["fallback_reason"] == optiroute["fallback_reason"]


def test_an_open_circuit_is_the_fallback_reason(failing_model):
    while not breaker.record_failure(failing_model.id):
        pass
    chain = inference.Chain(models=[failing_model, LLM.objects.get(name="fake-ok")])
    _, answered = inference.complete(chain, ChatCall(model_id="", messages=HELLO, timeout_s=settings.LLM_CALL_TIMEOUT_S))
    assert answered.name == "fake-ok"
    assert chain.fallback_reason == "fake-500 is failing repeatedly (circuit open)"
    assert chain.notices == ["fake-500 is failing repeatedly (circuit open); falling back to fake-ok"]


def test_without_a_fallback_there_is_no_fallback_reason(api):
    optiroute = chat(api, model="optiroute/quality-first",
                     optiroute={"constraints": {"allowed_models": ["fake-ok"]}}).json()["optiroute"]
    assert optiroute["fallback_reason"] is None and optiroute["notices"] == []
