"""Every row answered and billed once: a worker process killed mid-row, a task delivered twice."""

import os
import signal
import subprocess
import sys

import pytest
from django.db.models import Count

from routing.models import Batch, BatchItem, Usage
from tests.conftest import ROOT, _database_url, wait_until
from tests.routing.batches.conftest import ANSWER_COST, requests_for, wait_for


def start_worker(broker_url, log, name):
    """A second `celery worker` process on the test broker and database, as the fixture's."""
    env = {**os.environ, "REDIS_URL": broker_url, "DATABASE_URL": _database_url(),
           "OPTIROUTE_BATCH_CLAIM_TIMEOUT_S": "4"}
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "optiroute", "worker", "--pool", "solo", "--without-gossip",
             "--without-mingle", "--loglevel", "INFO", "--hostname", f"{name}@%h"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def assert_billed_once(batch_id, total):
    items = BatchItem.objects.filter(batch_id=batch_id)
    assert items.filter(status="answered").count() == total
    assert Usage.objects.filter(batch_item__batch_id=batch_id).count() == total  # one usage row a row
    assert not Usage.objects.values("batch_item").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert Usage.objects.filter(decision__mode="batch").count() == total  # and no usage without its row


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_killed_mid_row_leaves_every_row_answered_and_billed_once(celery_worker, provider, api, tmp_path):
    provider.delay_s = 0.3  # each answer takes a while: the worker is killed inside one
    doomed = start_worker(celery_worker, tmp_path / "doomed.log", "doomed")
    try:
        wait_until(lambda: b"ready" in (tmp_path / "doomed.log").read_bytes())
        batch_id = api.post("/api/v1/batches", {"model": "cheap", "requests": requests_for(80), "auto_run": True},
                            format="json").json()["id"]
        held = BatchItem.objects.filter(batch_id=batch_id, status="running", claimed_by__endswith=f":{doomed.pid}")
        wait_until(lambda: held.exists() and BatchItem.objects.filter(batch_id=batch_id, status="answered").exists())
        victim = held.get().pk
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait()
    finally:
        if doomed.poll() is None:
            doomed.kill()
    done = wait_for(api, batch_id, "succeeded", "failed")
    assert (done["status"], done["done"], done["failed"]) == ("succeeded", 80, 0)
    assert_billed_once(batch_id, 80)
    taken_over = BatchItem.objects.get(pk=victim)
    assert taken_over.status == "answered" and taken_over.attempts == 2  # the other worker answered it
    assert done["cost_usd"] == pytest.approx(80 * ANSWER_COST)
    # The killed worker's call reached the server but was never stored, so never billed.
    assert provider.calls["fake-ok"] in (80, 81)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_tasks_delivered_twice_answer_and_bill_each_row_once(celery_worker, provider, api, tmp_path):
    from routing.tasks import batch_chunk_task, batch_run_task

    provider.delay_s = 0.05
    second = start_worker(celery_worker, tmp_path / "second.log", "second")  # the copies run side by side
    try:
        wait_until(lambda: b"ready" in (tmp_path / "second.log").read_bytes())
        batch_id = api.post("/api/v1/batches", {"model": "cheap", "requests": requests_for(60)},
                            format="json").json()["id"]
        wait_for(api, batch_id, "proposed")
        batch_run_task.delay(batch_id)  # a second delivery of the choosing task changes nothing
        assert api.post(f"/api/v1/batches/{batch_id}/confirm").status_code == 200
        for start in (0, 50, 0, 50):  # every chunk delivered again while the first deliveries run
            batch_chunk_task.delay(batch_id, start)
        done = wait_for(api, batch_id, "succeeded", "failed")
    finally:
        second.terminate()
        second.wait(timeout=30)
    assert (done["status"], done["done"]) == ("succeeded", 60)
    assert_billed_once(batch_id, 60)
    assert provider.calls["fake-ok"] == 60  # a claimed row is never called twice
    assert Batch.objects.get(pk=batch_id).items.filter(attempts=1).count() == 60
