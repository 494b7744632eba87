"""An upload while the broker is down: the page answers, the job waits, and it runs once the
broker is back (sent again by the periodic requeue), exactly once."""

from datetime import timedelta

import pytest

from optiroute.celery import app
from registry.models import Dataset, ImportJob
from registry.services import import_jobs_requeue
from tests.conftest import wait_for_idle_worker, wait_until
from tests.registry.test_import_upload_job import zipped

UNREACHABLE = "redis://127.0.0.1:1/0"


def send_tasks_to(url: str) -> None:
    """Where this process sends tasks (the worker keeps listening on the working broker)."""
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_upload_made_while_the_broker_is_down_runs_once_it_is_back(celery_worker, staff, write_bundle):
    send_tasks_to(UNREACHABLE)
    try:
        response = staff.client.post("/console/imports/", {"dataset": "while-down", "format": "bundle",
                                                           "files": zipped(write_bundle())})
    finally:
        send_tasks_to(celery_worker)
    assert response.status_code == 302
    job = ImportJob.objects.get(dataset_name="while-down")
    assert job.status == ImportJob.Status.PENDING

    assert import_jobs_requeue(older_than=timedelta(0)) == 1  # what the periodic task does, the broker back
    import_jobs_requeue(older_than=timedelta(0))  # sent twice: still imported once
    wait_until(lambda: ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.SUCCEEDED)
    assert Dataset.objects.get(name="while-down").stats["prompts"] == 3
    assert ImportJob.objects.get(pk=job.pk).attempts == 1
    wait_for_idle_worker(celery_worker)  # the retraining the import queued
