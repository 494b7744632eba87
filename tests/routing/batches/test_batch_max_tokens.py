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


@pytest.mark.django_db
def test_graded_sample_answers_carry_the_rows_or_the_batchs_max_tokens(local_provider, key):
    """A sampled row's answer may become the row's answer, so it is asked for as the batch will ask."""
    from routing.batches.selection import batch_select
    from routing.models import Batch, BatchItem

    made = local_provider({}, name="localai")
    made.add("solver", 1.0, answers_as="fake-adder")
    made.add("other", 1.0, answers_as="fake-adder")
    batch = Batch.objects.create(api_key=key[0], cohort=key[0].cohort, model="optiroute/quality-first", total=20,
                                 max_tokens=40, options={"selection": {"mode": "graded"},
                                                         "constraints": {"allowed_models": ["solver", "other"]}})
    BatchItem.objects.bulk_create([
        BatchItem(batch=batch, position=i, custom_id=f"s{i}", reference=str(i + 1), max_tokens=12 if i % 2 else None,
                  messages=[{"role": "user", "content": f"What is {i} + 1?"}]) for i in range(20)])

    batch_select(batch=batch)

    assert made.server.bodies
    for body in made.server.bodies:
        row = int(body["messages"][-1]["content"].split()[2])
        assert body["max_tokens"] == (12 if row % 2 else 40), body
