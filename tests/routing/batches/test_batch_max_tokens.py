"""Batch answers honour max_tokens: the request's own, else the batch's (a 40-token limit was ignored)."""

import pytest

from tests.routing.batches.conftest import requests_for, wait_for


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_each_call_carries_the_requests_or_the_batchs_max_tokens(celery_worker, provider, api):
    requests = requests_for(3)
    requests[0]["max_tokens"] = 12
    batch_id = api.post("/api/v1/batches", {"model": "cheap", "requests": requests, "max_tokens": 40,
                                            "auto_run": True}, format="json").json()["id"]
    assert wait_for(api, batch_id, "succeeded", "failed")["done"] == 3
    sent = sorted(body["max_tokens"] for body in provider.bodies)
    assert sent == [12, 40, 40]


@pytest.mark.django_db
def test_a_bad_max_tokens_is_refused_naming_the_request(provider, api):
    requests = requests_for(2)
    requests[1]["max_tokens"] = 0
    response = api.post("/api/v1/batches", {"model": "cheap", "requests": requests}, format="json")
    assert response.status_code == 400 and "max_tokens" in str(response.json())
