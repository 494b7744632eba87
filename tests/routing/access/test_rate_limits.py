"""Rate limits per key and per cohort: requests and tokens a minute, 429 with Retry-After."""

import time
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.test import override_settings

from optiroute.broker import broker_client
from routing.access import limits
from routing.access.keys import api_key_create
from routing.access.limits import per_minute
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db
ROUTE = {"prompt": "Summarise the quarterly report in three bullet points."}
HELLO = [{"role": "user", "content": "Say hello to the team."}]


@pytest.fixture(autouse=True)
def catalog():
    call_command("import_models")


@pytest.fixture(autouse=True)
def one_window(monkeypatch):
    """Every call of a test falls in the same minute (a real minute could end mid-test)."""
    now = time.time()
    monkeypatch.setattr(limits, "time", SimpleNamespace(time=lambda: now))


@pytest.fixture(autouse=True)
def fresh_counters():
    client = broker_client()
    for counter in client.scan_iter("optiroute:ratelimit:*"):
        client.delete(counter)


def route(api):
    return api.post("/api/v1/route", ROUTE, format="json")


def test_it_reads_rates_people_write():
    assert per_minute("600/minute") == 600
    assert per_minute("10/second") == 600
    assert per_minute("120/hour") == 2
    assert per_minute("") is None
    with pytest.raises(ValueError, match="600/minute"):
        per_minute("600 per minute")


def test_the_default_limit_answers_429_with_retry_after(settings, api):
    settings.OPTIROUTE_RATE_LIMIT_DEFAULT = "3/minute"
    assert [route(api).status_code for _ in range(3)] == [200, 200, 200]
    refused = route(api)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    error = refused.json()["error"]
    assert error["code"] == "throttled" and "3 requests a minute" in error["message"]


def test_a_keys_own_limit_wins_over_the_default(settings, key):
    settings.OPTIROUTE_RATE_LIMIT_DEFAULT = "100/minute"
    api_key, raw = key
    api_key.requests_per_minute = 1
    api_key.save()
    api = bearer_client(raw)
    assert route(api).status_code == 200
    assert route(api).status_code == 429
    other = bearer_client(api_key_create(cohort_name=None, label="other")[1])
    assert route(other).status_code == 200  # another key of the cohort has its own count


def test_a_cohorts_limit_counts_all_its_keys(settings, key):
    settings.OPTIROUTE_RATE_LIMIT_DEFAULT = "100/minute"
    cohort = key[0].cohort
    cohort.requests_per_minute = 2
    cohort.save()
    first, second = bearer_client(key[1]), bearer_client(api_key_create(cohort_name=None, label="b")[1])
    assert [route(first).status_code, route(second).status_code, route(second).status_code] == [200, 200, 429]
    assert "cohort" in route(first).json()["error"]["message"]


def test_a_token_limit_refuses_once_the_minutes_tokens_are_spent(settings, local_provider, key):
    local_provider({"fake-ok": (0.5, 0.5)})
    settings.OPTIROUTE_TOKEN_LIMIT_DEFAULT = "20/minute"
    api = bearer_client(key[1])
    body = {"model": "fake-ok", "messages": HELLO}
    assert api.post("/v1/chat/completions", body, format="json").status_code == 200  # 18 tokens
    assert api.post("/v1/chat/completions", body, format="json").status_code == 200  # 36 > 20 now
    refused = api.post("/v1/chat/completions", body, format="json")
    assert refused.status_code == 429 and "tokens a minute" in refused.json()["error"]["message"]


def test_limits_are_not_enforced_while_the_broker_is_down(settings, api):
    settings.OPTIROUTE_RATE_LIMIT_DEFAULT = "1/minute"
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        assert [route(api).status_code for _ in range(3)] == [200, 200, 200]
