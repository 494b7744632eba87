"""Cascades in the gateway, against a real local OpenAI-protocol server: a cheap answer checked
before paying for a strong one, escalations, limits kept, streaming, and the decision's record."""

import json

import pytest

from routing.access.auth import forget
from routing.engine.snapshot import snapshots
from routing.models import Cohort, Decision, PreferenceProfile, Usage
from tests.routing.cascades import QUESTION, TERMS, answering

pytestmark = pytest.mark.django_db
SMALL = {"small-a", "small-b"}


def ask(api, stream=False, **terms):
    body = {**TERMS, **terms, "messages": [{"role": "user", "content": QUESTION}], "stream": stream}
    response = api.post("/v1/chat/completions", body, format="json")
    assert response.status_code == 200, response.content
    return response


def test_it_returns_the_cheap_answer_when_the_second_model_agrees(trio, api):
    answering(small_a="fake-letter-b", small_b="fake-letter-b", large="fake-ok")

    body = ask(api).json()

    # Both said B: the answer of whichever the evidence rates higher.
    assert body["model"] in SMALL and body["choices"][0]["message"]["content"] == "B"
    cascade = body["optiroute"]["cascade"]
    assert cascade["escalated"] is False and (cascade["first"], cascade["second"]) == ("small-a", "small-b")
    assert trio.calls["fake-ok"] == 0
    usage = Usage.objects.get()
    # Both small calls are billed: 12 tokens in and 6 out each, at $0.1 per million.
    assert usage.cost_usd == pytest.approx(2 * 18 * 0.1 / 1e6) == cascade["cost_usd"]


def test_the_two_cheap_models_are_asked_side_by_side(trio, api):
    # Each of these answers only while the other call is in flight too: one after the other, both fail.
    answering(small_a="fake-together-b", small_b="fake-together-b", large="fake-ok")

    body = ask(api).json()

    assert body["choices"][0]["message"]["content"] == "B" and body["optiroute"]["cascade"]["escalated"] is False
    assert trio.calls["fake-ok"] == 0
    assert [s["call"] for s in body["optiroute"]["cascade"]["steps"] if "call" in s] == ["small-a", "small-b"]


def test_it_escalates_when_the_second_model_disagrees(trio, api):
    answering(small_a="fake-letter-b", small_b="fake-letter-c", large="fake-ok")

    body = ask(api).json()

    assert body["model"] == "large" and body["choices"][0]["message"]["content"] == "Hello from the local provider."
    cascade = body["optiroute"]["cascade"]
    assert cascade["escalated"] is True and "disagreed" in cascade["reason"]
    assert any(n.startswith("escalated to large") for n in body["optiroute"]["notices"])
    assert Usage.objects.get().cost_usd == pytest.approx(2 * 18 * 0.1 / 1e6 + 18 * 4.0 / 1e6)


def test_it_escalates_when_the_first_answer_ignores_the_format(trio, api):
    answering(small_a="fake-letter-b-verbose", small_b="fake-letter-b", large="fake-ok")

    body = ask(api).json()

    assert body["model"] == "large"
    check = next(s for s in body["optiroute"]["cascade"]["steps"] if "check" in s)
    assert check["check"]["format_kept"] is False and check["check"]["agreed"] is True and check["passed"] is False


def test_a_failed_first_call_escalates(trio, api, settings):
    settings.LLM_MAX_RETRIES = 0
    answering(small_a="fake-500", small_b="fake-letter-b", large="fake-ok")

    body = ask(api).json()

    assert body["model"] == "large"
    cascade = body["optiroute"]["cascade"]
    assert cascade["escalated"] is True and cascade["reason"] == "a cascade call failed"
    assert cascade["steps"][0]["call"] == "small-a" and cascade["steps"][0]["outcome"] == "error"


def test_a_failed_escalation_still_bills_the_cheap_calls(trio, api, settings):
    settings.LLM_MAX_RETRIES = 0
    answering(small_a="fake-letter-b", small_b="fake-letter-c", large="fake-500")

    response = api.post("/v1/chat/completions", {**TERMS, "messages": [{"role": "user", "content": QUESTION}]},
                        format="json")

    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_failed"
    usage = Usage.objects.get()
    assert usage.cost_usd == pytest.approx(2 * 18 * 0.1 / 1e6)
    decision = Decision.objects.get(pk=usage.decision_id)
    assert decision.answered_by is None and decision.cascade["escalated"] is True
    assert decision.cascade["steps"][-1] == {"call": "large", "outcome": "error", "cost_usd": 0.0}


def test_a_failed_streamed_escalation_still_bills_the_cheap_calls(trio, api, settings):
    settings.LLM_MAX_RETRIES = 0
    answering(small_a="fake-letter-b", small_b="fake-letter-c", large="fake-500")

    response = ask(api, stream=True)

    text = b"".join(response.streaming_content).decode()
    assert '"code": "upstream_failed"' in text and text.rstrip().endswith("data: [DONE]")
    assert Usage.objects.get().cost_usd == pytest.approx(2 * 18 * 0.1 / 1e6)


def test_the_dry_run_shows_the_cascade_a_completion_would_run(trio, api):
    answering(small_a="fake-letter-b", small_b="fake-letter-b", large="fake-ok")
    body = {"prompt": QUESTION, "preferences": TERMS["optiroute"]["preferences"]}

    planned = api.post("/api/v1/route", {**body, "cascade": True}, format="json").json()["cascade"]
    plain = api.post("/api/v1/route", body, format="json").json()["cascade"]

    assert (planned["first"], planned["second"], planned["escalates_to"]) == ("small-a", "small-b", ["large"])
    assert planned["checks"] == ["extraction", "format", "agreement", "knn_estimate"] and "steps" not in planned
    assert plain is None
    assert sum(trio.calls.values()) == 0  # a dry run calls no model
    assert Decision.objects.filter(mode=Decision.Mode.DRY_RUN, cascade__first="small-a").count() == 1


def test_it_never_escalates_beyond_what_the_request_allows(trio, api):
    answering(small_a="fake-letter-b", small_b="fake-letter-c", large="fake-ok")
    # Under a cent per call, the large model's expected cost is over the limit: routing drops it.
    limited = {**TERMS["optiroute"], "constraints": {"max_cost_usd": 0.00005}}

    body = ask(api, optiroute=limited).json()

    assert trio.calls["fake-ok"] == 0 and body["model"] in ("small-a", "small-b")
    assert Usage.objects.get().cost_usd <= 0.00005


def test_a_cascade_that_could_cost_more_than_allowed_is_not_run(trio, api):
    answering(small_a="fake-letter-b", small_b="fake-letter-b", large="fake-ok")
    # Each small call fits the limit, but two of them and an escalation might not.
    limited = {**TERMS["optiroute"], "constraints": {"max_cost_usd": 0.0000001}}

    response = api.post("/v1/chat/completions", {**TERMS, "optiroute": limited,
                                                 "messages": [{"role": "user", "content": QUESTION}]}, format="json")

    if response.status_code == 200:
        assert "skipped" in response.json()["optiroute"]["cascade"]
    else:  # nothing fits at all: routing says so, no call was made
        assert response.status_code == 422
    assert sum(trio.calls.values()) <= 1


@pytest.mark.parametrize("second,answer,models", [("fake-letter-b", "B", SMALL),
                                                   ("fake-letter-c", "Hello from the local provider.", {"large"})])
def test_it_streams_once_the_check_passed_or_the_escalated_model_answers(trio, api, second, answer, models):
    answering(small_a="fake-letter-b", small_b=second, large="fake-ok")

    response = ask(api, stream=True)

    events = [json.loads(line[6:]) for line in b"".join(response.streaming_content).decode().splitlines()
              if line.startswith("data: {")]
    # Every chunk comes from the model whose answer is returned: nothing reached the caller before the check.
    answered = {e["model"] for e in events}
    assert len(answered) == 1 and answered <= models
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"]) == answer
    assert events[-1]["optiroute"]["cascade"]["escalated"] is (models == {"large"})


def test_the_decision_records_every_call_check_and_cost(trio, api):
    answering(small_a="fake-letter-b", small_b="fake-letter-c", large="fake-ok")

    decision_id = ask(api).json()["optiroute"]["decision_id"]

    cascade = Decision.objects.get(pk=decision_id).cascade
    calls = [s for s in cascade["steps"] if "call" in s]
    assert [s["call"] for s in calls] == ["small-a", "small-b", "large"]
    assert [s["cost_usd"] for s in calls] == pytest.approx([18 * 0.1 / 1e6, 18 * 0.1 / 1e6, 18 * 4.0 / 1e6])
    check = next(s for s in cascade["steps"] if "check" in s)
    assert check == {"check": {"format": "choice:ABCD", "extracted": True, "format_kept": True, "agreed": False,
                               "answer": "B"}, "passed": False}
    assert cascade["checks"] == ["extraction", "format", "agreement", "knn_estimate"]
    assert cascade["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in calls))


def test_cascades_are_opt_in_per_request_cohort_and_profile(trio, api, key):
    answering(small_a="fake-letter-b", small_b="fake-letter-b", large="fake-ok")
    plain = {"model": "optiroute/auto", "optiroute": {"preferences": {"accuracy": 1.0, "cost": 0.1}}}

    assert ask(api, **plain).json()["optiroute"]["cascade"] is None
    Cohort.objects.filter(pk=key[0].cohort_id).update(cascade=True)
    # A key is trusted with its cohort for up to KEY_CACHE_SECONDS: skip the wait.
    forget(key[0])
    snapshots.clear()
    assert ask(api, **plain).json()["optiroute"]["cascade"]["first"] == "small-a"
    refused = {"model": "optiroute/auto", "optiroute": {**plain["optiroute"], "cascade": False}}
    assert ask(api, **refused).json()["optiroute"]["cascade"] is None
    Cohort.objects.filter(pk=key[0].cohort_id).update(cascade=False)
    forget(key[0])
    PreferenceProfile.objects.filter(name="balanced").update(cascade=True)
    snapshots.clear()
    assert ask(api, **plain).json()["optiroute"]["cascade"]["first"] == "small-a"
