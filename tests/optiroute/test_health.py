"""GET /healthz and GET /readyz: alive, and ready only when everything a request needs is there."""

import pytest
from django.test import override_settings

from routing.pipeline import routing_state_load
from tests.conftest import wait_until

pytestmark = pytest.mark.django_db


def test_it_answers_healthz_without_any_dependency(client):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_it_is_ready_with_database_broker_worker_and_routing_state(client, celery_worker):
    routing_state_load()
    with override_settings(REDIS_URL=celery_worker):
        response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "worker": "ok", "routing_state": "ok"}


def test_it_is_not_ready_without_the_broker_and_says_why(client):
    routing_state_load()
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 503 and body["status"] == "not ready"
    assert body["checks"]["database"] == "ok"
    assert "cannot reach the broker" in body["checks"]["broker"]
    assert any(reason.startswith("broker: ") for reason in body["reasons"])


def test_it_loads_the_routing_state_in_the_background_and_then_is_ready_for_it(client):
    from routing.pipeline import routing_state_loaded

    assert not routing_state_loaded()  # each test starts with a fresh routing state
    first = client.get("/readyz").json()
    assert first["checks"]["routing_state"] == "the routing state is loading in this process"
    wait_until(lambda: client.get("/readyz").json()["checks"]["routing_state"] == "ok", timeout=120)
