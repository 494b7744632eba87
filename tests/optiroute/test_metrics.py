"""GET /metrics: Prometheus series of what OptiRoute did, for loopback callers or with the token."""

import pytest
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db
HELLO = [{"role": "user", "content": "Say hello to the team."}]


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.content.decode())
            for s in family.samples}


def value(samples, name, **labels) -> float:
    return sum(v for (n, ls), v in samples.items()
               if n == name and all(dict(ls).get(k) == want for k, want in labels.items()))


@pytest.fixture
def fake_ai(local_provider):
    return local_provider({"fake-ok": (0.5, 0.5), "fake-500": (1.0, 0.9)})


def test_it_counts_a_routed_answer_its_tokens_cost_and_provider_time(client, fake_ai, api, key):
    before = scrape(client)
    body = {"model": "optiroute/auto", "messages": HELLO, "optiroute": {"constraints": {"allowed_models": ["fake-ok"]}}}
    assert api.post("/v1/chat/completions", body, format="json").status_code == 200
    after = scrape(client)
    cohort = key[0].cohort.name
    assert value(after, "optiroute_decisions_total", model="fake-ok", cohort=cohort, mode="chat") == \
        value(before, "optiroute_decisions_total", model="fake-ok", cohort=cohort, mode="chat") + 1
    assert value(after, "optiroute_tokens_total", model="fake-ok") - value(before, "optiroute_tokens_total",
                                                                           model="fake-ok") == 18
    assert value(after, "optiroute_cost_usd_total", model="fake-ok", cohort=cohort) > value(
        before, "optiroute_cost_usd_total", model="fake-ok", cohort=cohort)
    assert value(after, "optiroute_provider_seconds_count", model="fake-ok", outcome="ok") == value(
        before, "optiroute_provider_seconds_count", model="fake-ok", outcome="ok") + 1
    assert value(after, "optiroute_routing_seconds_count") > value(before, "optiroute_routing_seconds_count")
    assert ("optiroute_budget_spent_usd", (("cohort", cohort),)) in after


@override_settings(LLM_RETRY_BACKOFF_S=0.0, LLM_MAX_RETRIES=1, LLM_CALL_TIMEOUT_S=2.0)
def test_it_counts_provider_errors_by_class_retries_and_fallbacks(client, fake_ai, api):
    before = scrape(client)
    body = {"model": "optiroute/quality-first", "messages": HELLO,
            "optiroute": {"constraints": {"allowed_models": ["fake-500", "fake-ok"]}}}
    assert api.post("/v1/chat/completions", body, format="json").status_code == 200
    after = scrape(client)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("optiroute_provider_errors_total", model="fake-500", error_class="server_error") == 2
    assert grew("optiroute_retries_total", model="fake-500") == 1
    assert grew("optiroute_fallbacks_total") == 1


def test_it_refuses_a_remote_caller_without_the_token(client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "metrics_forbidden"


@override_settings(OPTIROUTE_METRICS_TOKEN="scrape-secret")
def test_it_serves_a_remote_caller_with_the_token(client):
    wrong = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer nope")
    right = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert wrong.status_code == 403 and right.status_code == 200
    assert b"optiroute_" in right.content


def test_an_api_key_is_not_a_metrics_credential(key):
    response = bearer_client(key[1]).get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
