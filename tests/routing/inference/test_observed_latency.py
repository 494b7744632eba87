"""Observed latency: after enough calls through the gateway to a model made slow on purpose, its
observed figures replace the declared ones in routing (the latency constraint, the estimate and
the explanation), and failures count in its error rate."""

import pytest
from django.test import override_settings

from registry.models import LLM, ObservedLatency
from routing.inference.timings import observed_latency_refresh
from routing.models import CallTiming

pytestmark = pytest.mark.django_db
HELLO = [{"role": "user", "content": "Say hello to the team."}]
DELAY_S = 0.4  # the slow server's pause before each answer: observed p50 cannot be below it
LIMIT_MS = 300  # above the declared figures, below the slow server's pause
SETTINGS = {"OPTIROUTE_OBSERVED_MIN_CALLS": 3, "LLM_RETRY_BACKOFF_S": 0.0, "LLM_MAX_RETRIES": 0}


@pytest.fixture
def sluggish(local_provider):
    """A model that declares itself fast (100 ms to first token, 1000 tokens/s) on a server that
    pauses DELAY_S before every answer, beside a fast one."""
    slow = local_provider({"sluggish": (0.1, 0.9)}, name="slowai", answers_as="fake-ok")
    slow.server.delay_s = DELAY_S
    local_provider({"brisk": (1.0, 0.9)}, name="briskai", answers_as="fake-ok")
    LLM.objects.filter(name__in=["sluggish", "brisk"]).update(latency_ms_p50=100, tokens_per_second=1000)
    return slow.models["sluggish"]


def chat(api, stream=False, **body):
    response = api.post("/v1/chat/completions", {"messages": HELLO, "max_tokens": 16, "stream": stream, **body},
                        format="json")
    assert response.status_code == 200, response.content
    if stream:
        b"".join(response.streaming_content)
    return response


def route(api):
    response = api.post("/api/v1/route", {"prompt": "Say hello to the team.", "max_output_tokens": 16,
                                          "constraints": {"max_latency_ms": LIMIT_MS}}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@override_settings(**SETTINGS)
def test_observed_latency_replaces_the_declared_figure_after_enough_calls(sluggish, api):
    chat(api, model="sluggish")
    chat(api, model="sluggish", stream=True)
    observed_latency_refresh()
    before = route(api)  # two answered calls: fewer than the minimum, declared figures still hold
    assert "sluggish" not in before["excluded"]
    assert "declared" in next(c for c in before["candidates"] if c["model"] == "sluggish")["latency_source"]

    chat(api, model="sluggish")
    observed_latency_refresh()
    after = route(api)
    assert "observed p50" in after["excluded"]["sluggish"] and "over 3 calls" in after["excluded"]["sluggish"]
    assert [c["model"] for c in after["candidates"]] == ["brisk"]
    figures = ObservedLatency.objects.get(llm=sluggish)
    assert figures.calls == 3 and figures.errors == 0 and figures.p50_ms >= DELAY_S * 1000
    assert figures.first_token_calls == 1  # only the streamed call has a time to first token
    assert "declared" in after["candidates"][0]["latency_source"]  # brisk has no calls yet


@override_settings(**SETTINGS)
def test_the_explanation_says_the_latency_was_observed(sluggish, api):
    for _ in range(3):
        chat(api, model="sluggish")
    observed_latency_refresh()
    response = api.post("/api/v1/route", {"prompt": "Say hello to the team.",
                                          "constraints": {"allowed_models": ["sluggish"]}}, format="json")
    assert "latency" in response.json()["explanation"] and "observed p50" in response.json()["explanation"]


@override_settings(**SETTINGS)
def test_failed_calls_count_in_the_error_rate(local_provider, api):
    failing = local_provider({"flaky": (0.1, 0.9)}, name="flakyai", answers_as="fake-500").models["flaky"]
    for _ in range(2):
        response = api.post("/v1/chat/completions", {"messages": HELLO, "model": "flaky"}, format="json")
        assert response.status_code == 502
    observed_latency_refresh()
    figures = ObservedLatency.objects.get(llm=failing)
    assert figures.calls == figures.errors == 2 and figures.error_rate == 1.0 and figures.p50_ms is None


@override_settings(**SETTINGS, OPTIROUTE_OBSERVED_WINDOW=2)
def test_only_the_recent_window_counts(sluggish, api):
    for _ in range(3):
        chat(api, model="sluggish")
    observed_latency_refresh()
    assert ObservedLatency.objects.get(llm=sluggish).calls == 2
    assert CallTiming.objects.filter(llm=sluggish).count() == 3  # kept until older than the window's hours


@override_settings(**SETTINGS)
def test_the_model_page_shows_the_observed_figures(sluggish, api, staff):
    client = staff.client
    assert "Declared figures until 3 answered calls" in client.get(f"/console/models/{sluggish.pk}/").content.decode()
    for _ in range(3):
        chat(api, model="sluggish")
    observed_latency_refresh()
    page = client.get(f"/console/models/{sluggish.pk}/").content.decode()
    assert "Observed latency" in page and "over 3 answered calls" in page and "0 of 3 failed" in page
    assert "The observed p50 replaces the declared figures." in page
