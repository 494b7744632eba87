"""The broker (Redis) down: routing and answers keep working; what lives there (circuit breakers,
rate limits) is skipped, and readiness says why."""

import pytest

from routing.inference.circuit import breaker

pytestmark = pytest.mark.django_db
UNREACHABLE = "redis://127.0.0.1:1/0"
HELLO = [{"role": "user", "content": "Say hello to the team."}]


@pytest.fixture
def broker_down(settings):
    settings.REDIS_URL = UNREACHABLE
    settings.OPTIROUTE_RATE_LIMIT_DEFAULT = "600/minute"
    breaker._client = None  # the breaker connects again, to the unreachable broker
    yield
    breaker._client = None


def test_routing_and_answers_work_without_the_broker(broker_down, local_provider, api, client):
    local_provider({"fake-ok": (0.5, 0.5)})
    routed = api.post("/api/v1/route", {"prompt": "Write a haiku about autumn."}, format="json")
    assert routed.status_code == 200, routed.content
    body = {"model": "optiroute/auto", "messages": HELLO, "optiroute": {"constraints": {"allowed_models": ["fake-ok"]}}}
    answered = api.post("/v1/chat/completions", body, format="json")
    assert answered.status_code == 200, answered.content
    assert answered.json()["choices"][0]["message"]["content"] == "Hello from the local provider."
    ready = client.get("/readyz").json()
    assert "cannot reach the broker" in ready["checks"]["broker"]
