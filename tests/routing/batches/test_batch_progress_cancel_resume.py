"""Progress counts each answered request; a batch can be cancelled and resumed (API and console)."""

import pytest

from routing.models import BatchItem, Usage
from tests.conftest import wait_until
from tests.routing.batches.conftest import requests_for, summary, wait_for


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_progress_counts_each_answer_and_cancel_then_resume_finish_the_batch(celery_worker, provider, api):
    provider.delay_s = 0.2
    batch_id = api.post("/api/v1/batches", {"model": "cheap", "requests": requests_for(60), "auto_run": True},
                        format="json").json()["id"]
    wait_until(lambda: summary(api, batch_id)["done"] >= 2)
    running = summary(api, batch_id)
    assert running["status"] == "running" and 2 <= running["done"] < 50  # before a chunk of 50 is done
    assert running["remaining"] == 60 - running["done"] - running["failed"]
    assert running["cost_usd"] > 0 and running["eta_seconds"] is not None and running["eta_seconds"] > 0

    cancelled = api.post(f"/api/v1/batches/{batch_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    wait_until(lambda: not BatchItem.objects.filter(batch_id=batch_id, status="running").exists())
    at_cancel = summary(api, batch_id)
    assert at_cancel["status"] == "cancelled" and at_cancel["done"] < 60 and at_cancel["eta_seconds"] is None
    assert api.post(f"/api/v1/batches/{batch_id}/cancel").status_code == 409

    assert api.post(f"/api/v1/batches/{batch_id}/resume").json()["status"] == "running"
    done = wait_for(api, batch_id, "succeeded", "failed")
    assert (done["status"], done["done"]) == ("succeeded", 60)
    assert Usage.objects.count() == 60 and provider.calls["fake-ok"] == 60


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_console_confirms_cancels_and_resumes(celery_worker, provider, client):
    from django.contrib.auth import get_user_model

    from routing.models import Batch

    engineer = get_user_model().objects.create_user("grace", password="pw-grace-123", is_staff=True)
    client.force_login(engineer)
    upload = _csv("prompt\n" + "".join(f"Summarise report {i}.\n" for i in range(8)))
    response = client.post("/console/batches/", {"file": upload, "model": "cheap"})
    assert response.status_code == 302, response.content.decode()
    batch = Batch.objects.get()
    wait_until(lambda: Batch.objects.get().status == "proposed")
    page = client.get(f"/console/batches/{batch.pk}/").content.decode()
    assert "Proposed: cheap" in page and "Confirm and run" in page
    client.post(f"/console/batches/{batch.pk}/cancel/")
    assert Batch.objects.get().status == "cancelled"
    assert "Resume" in client.get(f"/console/batches/{batch.pk}/").content.decode()
    client.post(f"/console/batches/{batch.pk}/resume/")
    wait_until(lambda: Batch.objects.get().status == "succeeded")
    page = client.get(f"/console/batches/{batch.pk}/").content.decode()
    assert 'id="done">8<' in page and "Download CSV" in page
    rows = b"".join(client.get(f"/console/batches/{batch.pk}/results.csv").streaming_content).decode().splitlines()
    assert len(rows) == 9 and rows[1].startswith("0,answered,cheap,Hello from the local provider.")
    confirmed_twice = client.post(f"/console/batches/{batch.pk}/confirm/", follow=True).content.decode()
    assert "only a proposed batch can be" in confirmed_twice


def _csv(text):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("batch.csv", text.encode(), content_type="text/csv")
