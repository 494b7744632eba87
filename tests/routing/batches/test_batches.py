"""Batch mode: a sample of ~2% picks the model, real Celery workers answer every request."""

import uuid

import pytest

from registry.models import LLM
from routing.models import Batch, Decision, Usage
from tests.conftest import wait_until


@pytest.fixture
def provider(cheap_and_pricey):
    return cheap_and_pricey


def requests_for(n):
    return [{"custom_id": f"q{i}", "messages": [{"role": "user", "content": f"Summarise report number {i}."}]}
            for i in range(n)]


def finished(api, batch_id):
    # Routing the first sample trains the task analyzer: minutes on a loaded 2-core machine.
    wait_until(lambda: api.get(f"/api/v1/batches/{batch_id}").json()["status"] in ("succeeded", "failed"), 600)
    return api.get(f"/api/v1/batches/{batch_id}").json()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_batch_is_answered_by_the_model_its_sample_chose(celery_worker, provider, api):
    response = api.post("/api/v1/batches", {"model": "optiroute/balanced", "requests": requests_for(120),
                                            "auto_run": True}, format="json")
    assert response.status_code == 202, response.content
    summary = finished(api, response.json()["id"])
    assert summary["status"] == "succeeded", summary
    assert (summary["total"], summary["answered"], summary["failed"]) == (120, 120, 0)
    assert summary["sample_size"] == 20  # 2% of 120 is 3, below the minimum sample of 20
    assert summary["chosen_model"] == "cheap" and summary["choice"]["proposal"]["model"] == "cheap"
    results = api.get(f"/api/v1/batches/{summary['id']}/results").json()["data"]
    assert [r["custom_id"] for r in results] == [f"q{i}" for i in range(120)]
    assert {(r["status"], r["model"], r["content"]) for r in results} == {
        ("answered", "cheap", "Hello from the local provider.")}
    assert provider.calls["fake-ok"] == 120  # routing the sample calls no model
    assert Usage.objects.count() == 120  # accounted once per answered request
    assert not Decision.objects.filter(mode="batch", answered_by__isnull=True).exists()  # judging by evidence
    assert summary["cost_usd"] == pytest.approx(120 * 18 * 0.1 / 1e6)


@pytest.mark.django_db
@pytest.mark.parametrize("body, status, expected", [
    ({"requests": []}, 400, "requests"),
    ({"requests": [{"messages": [{"role": "robot", "content": "hi"}]}]}, 400, "role"),
    ({"requests": [{"messages": [{"role": "user", "content": " "}]}]}, 400, "needs text"),
    ({"requests": [{"custom_id": "a", "messages": [{"role": "user", "content": "x"}]}] * 2}, 400, "unique"),
    ({"model": "optiroute/no-such-profile", "requests": requests_for(2)}, 400, "unknown profile"),
    ({"model": "no-such-model", "requests": requests_for(2)}, 404, "unknown model"),
])
def test_bad_batches_are_refused_and_nothing_is_stored(provider, api, body, status, expected):
    response = api.post("/api/v1/batches", body, format="json")
    assert response.status_code == status and expected in str(response.json()), response.content
    assert not Batch.objects.exists()


@pytest.mark.django_db
def test_a_model_outside_the_pool_is_a_403_and_others_batches_are_hidden(provider, api, key, outsider):
    key[0].cohort.allowed_models.set(LLM.objects.filter(name="cheap"))
    response = api.post("/api/v1/batches", {"model": "pricey", "requests": requests_for(2)}, format="json")
    assert response.status_code == 403
    theirs = Batch.objects.create(cohort=outsider.cohort, model="cheap", total=0)
    assert api.get(f"/api/v1/batches/{theirs.pk}").status_code == 404
    assert api.get(f"/api/v1/batches/{uuid.uuid4()}/results").status_code == 404


@pytest.mark.django_db
def test_a_row_claimed_by_a_dead_worker_is_taken_over_once_stale(provider, key, settings):
    from datetime import timedelta

    from django.utils import timezone

    from routing.batches.services import batch_chunk_run, batch_has_claims
    from routing.models import BatchItem

    settings.OPTIROUTE_BATCH_CLAIM_TIMEOUT_S = 60
    batch = Batch.objects.create(api_key=key[0], cohort=key[0].cohort, model="cheap", total=2, status="running",
                                 chosen_model=LLM.objects.get(name="cheap"), choice={"chain": ["cheap"]})
    recent, stale = timezone.now(), timezone.now() - timedelta(seconds=61)
    for position, claimed in enumerate([recent, stale]):
        BatchItem.objects.create(batch=batch, position=position, messages=requests_for(1)[0]["messages"],
                                 status="running", claimed_at=claimed, attempts=1)
    assert batch_chunk_run(batch_id=str(batch.pk), start=0) == 1  # the stale claim only
    assert list(batch.items.order_by("position").values_list("status", "attempts")) == [
        ("running", 1), ("answered", 2)]
    assert batch_has_claims(batch_id=str(batch.pk))  # so the task looks again later


@pytest.mark.django_db
def test_engineers_read_batches_in_the_admin(provider, key, staff):
    from routing.models import BatchItem

    batch = Batch.objects.create(api_key=key[0], cohort=key[0].cohort, model="cheap", total=1)
    BatchItem.objects.create(batch=batch, position=0, custom_id="only", messages=requests_for(1)[0]["messages"])
    assert staff.client.get("/admin/routing/batch/").status_code == 200
    page = staff.client.get(f"/admin/routing/batch/{batch.pk}/change/")
    assert page.status_code == 200 and "only" in page.content.decode()


@pytest.mark.django_db
def test_a_request_too_long_for_the_batch_models_fails_alone(provider, key):
    from routing.batches.services import batch_chunk_run
    from routing.models import BatchItem

    LLM.objects.filter(name="cheap").update(context_window=1000)
    batch = Batch.objects.create(api_key=key[0], cohort=key[0].cohort, model="cheap", total=2, status="running",
                                 chosen_model=LLM.objects.get(name="cheap"), choice={"chain": ["cheap"]})
    long_text = "word " * 3000
    for position, text in enumerate(["Summarise this.", long_text]):
        BatchItem.objects.create(batch=batch, position=position, messages=[{"role": "user", "content": text}])
    assert batch_chunk_run(batch_id=str(batch.pk), start=0) == 1
    short, long = batch.items.order_by("position")
    assert short.status == "answered" and long.status == "failed" and "context window" in long.error
    assert provider.calls["fake-ok"] == 1


@pytest.mark.django_db
def test_a_model_the_cohort_denies_cannot_answer_a_batch(provider, api, key):
    cohort = key[0].cohort
    cohort.constraints = {"denied_models": ["pricey"]}
    cohort.save()
    response = api.post("/api/v1/batches", {"model": "pricey", "requests": requests_for(2)}, format="json")
    assert response.status_code == 403 and not Batch.objects.exists()
