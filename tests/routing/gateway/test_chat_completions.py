"""POST /v1/chat/completions against a real local OpenAI-protocol server: answers, fallbacks, errors."""

import json
import os
import time

import pytest
from django.conf import settings
from django.test import override_settings

from registry.models import LLM
from routing.models import Cohort, Decision, Usage
from tests.openai_server import LINGER_S

pytestmark = pytest.mark.django_db
HELLO = [{"role": "user", "content": "Say hello to the team."}]
FAST = {"LLM_RETRY_BACKOFF_S": 0.0, "LLM_MAX_RETRIES": 2, "LLM_CALL_TIMEOUT_S": 0.5}


@pytest.fixture
def fake_ai(local_provider):
    return local_provider({"fake-ok": (0.5, 0.5), "fake-500": (1.0, 0.9), "fake-429": (1.0, 0.9),
                           "fake-slow": (1.0, 0.9), "fake-badjson": (1.0, 0.9), "fake-cut": (1.0, 0.9)},
                          key_env="FAKE_OPENAI_KEY", key="sk-test-secret")


def chat(api, status=200, **body):
    response = api.post("/v1/chat/completions", {"messages": HELLO, **body}, format="json")
    assert response.status_code == status, response.content
    return response


def routed_between(failing):
    """optiroute/auto with a pool where the failing model wins on quality and fake-ok is cheaper."""
    return {"model": "optiroute/quality-first", "optiroute": {"constraints": {"allowed_models": [failing, "fake-ok"]}}}


def test_it_answers_a_named_model_in_openai_format(fake_ai, api, key):
    response = chat(api, model="fake-ok")
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "fake-ok"
    assert body["choices"][0]["message"]["content"] == "Hello from the local provider."
    assert body["usage"] == {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}
    assert response["x-optiroute-model"] == "fake-ok"
    assert response["x-optiroute-decision-id"] == body["optiroute"]["decision_id"]
    assert fake_ai.server.last_auth == "Bearer sk-test-secret"
    usage = Usage.objects.get()
    assert usage.llm.name == "fake-ok" and usage.api_key == key[0] and usage.cost_usd == pytest.approx(18 * 0.5 / 1e6)


def test_it_routes_optiroute_auto_and_explains(fake_ai, api):
    body = chat(api, model="optiroute/auto", optiroute={"constraints": {"allowed_models": ["fake-ok"]}}).json()
    decision = Decision.objects.get(pk=body["optiroute"]["decision_id"])
    assert decision.mode == "chat" and decision.chosen_model.name == "fake-ok" == decision.answered_by.name


@override_settings(**FAST)
@pytest.mark.parametrize("failing,retried", [("fake-500", 3), ("fake-429", 3), ("fake-slow", 3), ("fake-badjson", 1),
                                             ("fake-cut", 3)])
def test_a_failing_model_falls_back_to_the_next_candidate(fake_ai, api, failing, retried):
    body = chat(api, **routed_between(failing)).json()
    assert body["model"] == "fake-ok"
    assert body["optiroute"]["chosen_model"] == failing
    assert any(f"{failing} failed" in notice for notice in body["optiroute"]["notices"])
    assert fake_ai.server.calls[failing] == retried  # retries only where a retry can help
    decision = Decision.objects.get(pk=body["optiroute"]["decision_id"])
    assert [a["outcome"] for a in decision.attempts] == ["error"] * retried + ["ok"]
    assert Usage.objects.filter(decision=decision).count() == 1


@override_settings(**FAST)
def test_a_fallback_never_escalates_to_a_pricier_model_unless_allowed(fake_ai, api):
    for name, api_id, price in [("cheap-broken", "fake-500", 0.1), ("premium-ok", "fake-ok", 5.0)]:
        fake_ai.add(name, price, quality=0.8, answers_as=api_id, generalist=False)
    options = {"constraints": {"allowed_models": ["cheap-broken", "premium-ok"]}}
    error = chat(api, 502, model="optiroute/cost-effective", optiroute=options).json()["error"]
    assert "cheap-broken" in error["message"]
    skipped = {a["model"]: a["error"] for a in error["details"]["attempts"] if a["outcome"] == "skipped"}
    assert "pricier" in skipped["premium-ok"]

    body = chat(api, model="optiroute/cost-effective", optiroute={**options, "allow_escalation": True}).json()
    assert body["model"] == "premium-ok" and body["optiroute"]["chosen_model"] == "cheap-broken"


@override_settings(**FAST)
def test_when_every_model_fails_the_error_lists_the_attempts(fake_ai, api):
    response = chat(api, 502, model="fake-500")
    error = response.json()["error"]
    assert error["type"] == "upstream_failed" and "HTTP 500" in error["message"]
    assert len(error["details"]["attempts"]) == 3
    assert not Usage.objects.exists()


def test_a_named_model_without_credentials_is_a_clear_error(fake_ai, api, monkeypatch):
    monkeypatch.delenv("FAKE_OPENAI_KEY")
    error = chat(api, 502, model="fake-ok").json()["error"]
    assert "FAKE_OPENAI_KEY is not set" in error["message"]


def test_it_streams_server_sent_events(fake_ai, api):
    response = chat(api, model="fake-ok", stream=True, stream_options={"include_usage": True})
    assert response["Content-Type"] == "text/event-stream"
    events = [line[6:] for line in b"".join(response.streaming_content).decode().split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hello from the local provider."
    assert chunks[-1]["usage"]["total_tokens"] == 18
    assert any("optiroute" in c for c in chunks)
    assert Usage.objects.get().output_tokens == 6


def test_chunked_streams_on_a_kept_alive_connection_arrive_whole(fake_ai, api):
    """Hosted providers stream with chunked encoding and keep the connection: chunks split lines
    and events anywhere, and a connection used for a stream serves the next call cleanly."""
    fake_ai.add("fake-chunked", 0.5, quality=0.5, generalist=False)
    for _ in range(3):
        response = chat(api, model="fake-chunked", stream=True)
        events = [line[6:] for line in b"".join(response.streaming_content).decode().split("\n\n") if line]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == \
            "Hello from the local provider."
        assert chat(api, model="fake-chunked").json()["choices"][0]["message"]["content"] == \
            "Hello from the local provider."
    assert fake_ai.server.calls["fake-chunked"] == 6
    assert fake_ai.server.connections == 1  # each finished stream left its connection to the next call
    assert Usage.objects.filter(llm__name="fake-chunked", output_tokens=6).count() == 6


def test_a_stream_that_lingers_after_done_is_not_waited_for(fake_ai, api):
    """The caller's last event never waits on a provider slow to end its stream: the connection
    is closed instead of kept, and the next call opens another."""
    fake_ai.add("fake-lingering", 0.5, quality=None, generalist=False)
    started = time.monotonic()
    text = b"".join(chat(api, model="fake-lingering", stream=True).streaming_content).decode()
    assert text.endswith("data: [DONE]\n\n") and "Hello" in text
    assert time.monotonic() - started < LINGER_S / 3
    assert chat(api, model="fake-lingering").json()["choices"][0]["message"]["content"] == \
        "Hello from the local provider."
    assert fake_ai.server.connections == 2


@override_settings(**FAST)
def test_a_stream_failing_before_any_text_falls_back(fake_ai, api):
    response = chat(api, stream=True, **routed_between("fake-500"))
    text = b"".join(response.streaming_content).decode()
    assert "Hello" in text and "falling back to fake-ok" in text and text.endswith("data: [DONE]\n\n")


@override_settings(**FAST)
def test_a_stream_cut_in_the_middle_ends_with_a_clear_error(fake_ai, api):
    response = chat(api, model="fake-cut", stream=True)
    events = [e for e in b"".join(response.streaming_content).decode().split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    error = json.loads(events[-2][6:])["error"]
    assert "ended the stream before [DONE]" in error["message"]
    contents = [json.loads(e[6:])["choices"][0]["delta"].get("content") for e in events[:-2]]
    assert "Hello" in contents  # what arrived before the cut reached the caller
    assert Usage.objects.get().output_tokens > 0  # and is accounted, once


@override_settings(**FAST, CIRCUIT_FAILURES=3, CIRCUIT_COOLDOWN_S=1)
def test_the_circuit_opens_after_failures_and_closes_after_the_cooldown(fake_ai, api):
    chat(api, 502, model="fake-500")  # three failed attempts open the circuit
    assert fake_ai.server.calls["fake-500"] == 3
    body = chat(api, **routed_between("fake-500")).json()
    decision = Decision.objects.get(pk=body["optiroute"]["decision_id"])
    assert decision.excluded["fake-500"] == "temporarily unavailable (circuit open)"
    assert fake_ai.server.calls["fake-500"] == 3  # skipped, not called
    import time

    time.sleep(1.2)
    chat(api, 502, model="fake-500")
    assert fake_ai.server.calls["fake-500"] == 6  # closed again: called


def test_a_spent_budget_is_a_429(fake_ai, api, key):
    cohort = key[0].cohort
    cohort.monthly_budget_usd = "0.000005"
    cohort.save()
    chat(api, model="fake-ok")  # costs 0.000009, over the budget
    error = chat(api, 429, model="fake-ok").json()["error"]
    assert error["type"] == "budget_exhausted" and "monthly budget" in error["message"]
    assert Usage.objects.count() == 1


def test_a_model_outside_the_pool_is_a_403(fake_ai, api, key):
    cohort = key[0].cohort
    cohort.allowed_models.set(LLM.objects.filter(name="fake-ok"))
    assert chat(api, 403, model="fake-500").json()["error"]["type"] == "model_not_allowed"
    body = chat(api, model="optiroute/auto").json()
    assert body["model"] == "fake-ok"


def test_an_unknown_model_is_a_404(fake_ai, api):
    assert chat(api, 404, model="no-such-model").json()["error"]["type"] == "model_not_found"


def test_a_revoked_key_is_a_401(fake_ai, revoked_key):
    chat(revoked_key.api, 401, model="fake-ok")


@pytest.mark.parametrize("body,fragment", [
    ({"model": "fake-ok", "messages": []}, "messages"),
    ({"model": "fake-ok", "messages": [{"role": "wizard", "content": "hi"}]}, "role"),
    ({"messages": HELLO}, "model"),
    ({"model": "fake-ok", "messages": HELLO, "temperature": 7}, "temperature"),
    ({"model": "optiroute/auto", "messages": HELLO, "optiroute": {"preferences": {"cost": 2}}}, "cost"),
    ({"model": "optiroute/nonsense", "messages": HELLO}, "unknown profile"),
])
def test_bad_chat_requests_get_a_clear_4xx(fake_ai, api, body, fragment):
    response = api.post("/v1/chat/completions", body, format="json")
    assert response.status_code in (400, 404), response.content
    assert fragment in response.json()["error"]["message"]


def test_models_lists_profiles_and_the_pool(fake_ai, api, key):
    ids = [m["id"] for m in api.get("/v1/models").json()["data"]]
    assert "optiroute/auto" in ids and "optiroute/cost-effective" in ids and "fake-ok" in ids
    key[0].cohort.allowed_models.set(LLM.objects.filter(name="fake-ok"))
    ids = [m["id"] for m in api.get("/v1/models").json()["data"]]
    assert "fake-ok" in ids and "fake-500" not in ids


def test_savings_are_measured_against_the_cohort_baseline(fake_ai, api, key):
    cohort = Cohort.objects.get(pk=key[0].cohort_id)
    cohort.baseline_model = LLM.objects.get(name="fake-500")
    cohort.save()
    body = chat(api, model="fake-ok").json()
    assert body["optiroute"]["saving_usd"] == pytest.approx(18 * (1.0 - 0.5) / 1e6)


@override_settings(CIRCUIT_COOLDOWN_S=30)
def test_a_circuit_opened_by_another_process_is_seen_here(fake_ai, api):
    """The breaker's state lives in Redis: a circuit another process opened is skipped here too."""
    import subprocess
    import sys
    import time

    from routing.inference import circuit
    from routing.inference.circuit import breaker

    llm = LLM.objects.get(name="fake-500")
    assert breaker.open_circuits([llm.id]) == frozenset()
    opener = ("import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'optiroute.settings'); django.setup()\n"
              "from django.test import override_settings\nfrom routing.inference.circuit import breaker\n"
              f"with override_settings(CIRCUIT_FAILURES=1, CIRCUIT_COOLDOWN_S=30):\n"
              f"    assert breaker.record_failure({llm.id})\n")
    subprocess.run([sys.executable, "-c", opener], check=True, timeout=60,
                   env={**os.environ, "REDIS_URL": settings.REDIS_URL})
    time.sleep(circuit.SYNC_SECONDS + 0.1)
    assert breaker.open_circuits([llm.id]) == {llm.id}
    body = chat(api, **routed_between("fake-500")).json()
    assert Decision.objects.get(pk=body["optiroute"]["decision_id"]).excluded["fake-500"] == \
        "temporarily unavailable (circuit open)"
    assert fake_ai.server.calls["fake-500"] == 0
