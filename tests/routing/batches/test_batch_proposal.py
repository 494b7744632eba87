"""A batch waits as proposed (model, expected quality, projected cost) until the user confirms it."""

import csv
import io
import json

import pytest

from routing.models import Usage
from tests.routing.batches.conftest import ANSWER_COST, requests_for, wait_for


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_proposes_then_runs_once_confirmed_and_downloads_the_results(celery_worker, provider, api):
    batch_id = api.post("/api/v1/batches", {"model": "cheap", "requests": requests_for(30), "max_tokens": 6},
                        format="json").json()["id"]
    proposed = wait_for(api, batch_id, "proposed")
    assert proposed["proposal"]["model"] == "cheap" and proposed["proposal"]["cost_usd"] > 0
    assert proposed["proposal"]["cost_usd"] == pytest.approx(
        proposed["proposal"]["answers_cost_usd"] + proposed["proposal"]["sample_cost_usd"])
    assert (proposed["done"], proposed["remaining"], provider.calls["fake-ok"]) == (0, 30, 0)  # nothing runs yet

    confirmed = api.post(f"/api/v1/batches/{batch_id}/confirm")
    assert confirmed.status_code == 200 and confirmed.json()["status"] in ("running", "succeeded")
    done = wait_for(api, batch_id, "succeeded", "failed")
    assert (done["status"], done["done"], done["failed"], done["remaining"]) == ("succeeded", 30, 0, 0)
    assert done["cost_usd"] == pytest.approx(30 * ANSWER_COST) and done["eta_seconds"] is None
    assert Usage.objects.count() == 30 and provider.calls["fake-ok"] == 30
    again = api.post(f"/api/v1/batches/{batch_id}/confirm")
    assert again.status_code == 409 and "succeeded" in again.json()["error"]["message"]

    rows = list(csv.DictReader(io.StringIO(b"".join(
        api.get(f"/api/v1/batches/{batch_id}/results?download=csv").streaming_content).decode())))
    assert [r["custom_id"] for r in rows] == [f"q{i}" for i in range(30)]
    assert rows[0] | {"cost_usd": None} == {"custom_id": "q0", "status": "answered", "model": "cheap",
                                            "output": "Hello from the local provider.", "input_tokens": "12",
                                            "output_tokens": "6", "cost_usd": None, "error": ""}
    lines = b"".join(api.get(f"/api/v1/batches/{batch_id}/results?download=jsonl").streaming_content).splitlines()
    assert len(lines) == 30 and json.loads(lines[29])["custom_id"] == "q29"
    assert json.loads(lines[0])["cost_usd"] == pytest.approx(ANSWER_COST)
    assert api.get(f"/api/v1/batches/{batch_id}/results?download=xml").status_code == 400


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_with_auto_run_it_runs_without_a_confirmation(celery_worker, provider, api):
    batch_id = api.post("/api/v1/batches", {"model": "cheap", "requests": requests_for(5), "auto_run": True},
                        format="json").json()["id"]
    done = wait_for(api, batch_id, "succeeded", "failed")
    assert (done["status"], done["done"], done["proposal"]["model"]) == ("succeeded", 5, "cheap")
