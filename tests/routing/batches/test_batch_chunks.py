"""More than 10,000 requests: a batch created with more_to_come takes further chunks (JSON or a CSV
or JSONL file, through the API or the console) until one comes without it; a bad chunk is refused
whole and leaves the batch as it was."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from routing.batches.services import batch_run
from routing.models import Batch, BatchItem
from tests.routing.batches.conftest import requests_for, wait_for


def open_batch(api, n=3):
    response = api.post("/api/v1/batches", {"model": "cheap", "requests": requests_for(n), "more_to_come": True},
                        format="json")
    assert response.status_code == 202, response.content
    assert (response.json()["status"], response.json()["awaiting_more"]) == ("queued", True)
    return response.json()["id"]


def snapshot(batch_id):
    batch = Batch.objects.get(pk=batch_id)
    return batch.total, batch.awaiting_more, list(BatchItem.objects.filter(batch=batch).order_by("position")
                                                  .values_list("position", "custom_id"))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_chunks_in_json_and_a_file_make_one_batch_chosen_after_the_last(celery_worker, provider, api):
    batch_id = open_batch(api)
    batch_run(batch_id=batch_id)  # a choosing task before the last chunk changes nothing
    assert Batch.objects.get(pk=batch_id).chosen_model is None

    second = api.post(f"/api/v1/batches/{batch_id}/items", {"requests": requests_for(3, start=3),
                                                             "more_to_come": True}, format="json")
    assert second.status_code == 200 and second.json()["total"] == 6 and second.json()["status"] == "queued"
    last = api.post(f"/api/v1/batches/{batch_id}/items", {"file": SimpleUploadedFile(
        "rest.csv", b"custom_id,prompt\nr1,Summarise report r1.\n,Summarise the last report.\n")},
        format="multipart")
    assert last.status_code == 200, last.content
    assert (last.json()["total"], last.json()["awaiting_more"]) == (8, False)

    proposed = wait_for(api, batch_id, "proposed")
    assert proposed["total"] == 8 and proposed["proposal"]["model"] == "cheap"
    ids = [custom_id for _, custom_id in snapshot(batch_id)[2]]
    assert ids == ["q0", "q1", "q2", "q3", "q4", "q5", "r1", "7"]
    late = api.post(f"/api/v1/batches/{batch_id}/items", {"requests": requests_for(1, start=9)}, format="json")
    assert late.status_code == 409 and "takes no more requests" in late.json()["error"]["message"]

    assert api.post(f"/api/v1/batches/{batch_id}/confirm").status_code == 200
    done = wait_for(api, batch_id, "succeeded", "failed")
    assert (done["status"], done["done"]) == ("succeeded", 8)


def bad_row():
    rows = requests_for(3, start=10)
    rows[1]["messages"] = []
    return rows


@pytest.mark.django_db
@pytest.mark.parametrize("body, status, problem", [
    ({"requests": bad_row()}, 400, "This list may not be empty"),
    ({"requests": requests_for(2, start=1)}, 400, "custom_id 'q1' is already in batch"),
    ({"requests": [{"messages": [{"role": "user", "content": "Position three's default id."}]},
                   *requests_for(1, start=3)]}, 200, ""),
    ({"requests": requests_for(10_001, start=10)}, 400, "no more than 10000"),
    ({"file": ("more.csv", b"custom_id,prompt\nm1,Fine.\nm2,   \n")}, 400, "more.csv, line 3: the prompt is empty"),
    ({"file": ("more.jsonl", b'{"prompt": "Fine."}\n{"prompt": "Cut\n')}, 400, "more.jsonl, line 2: not valid JSON"),
    ({"file": ("more.csv", "prompt\nCaf\xe9\n".encode("latin-1"))}, 400, "more.csv, line 2: not UTF-8 text"),
    ({"file": ("more.txt", b"prompt\nFine.\n")}, 400, "more.txt: upload a .csv or .jsonl file"),
])
def test_a_bad_chunk_is_refused_whole_and_the_batch_is_unchanged(provider, api, body, status, problem):
    batch_id = open_batch(api)
    before = snapshot(batch_id)
    if "file" in body:
        name, data = body["file"]
        response = api.post(f"/api/v1/batches/{batch_id}/items", {"file": SimpleUploadedFile(name, data),
                                                                   "more_to_come": "true"}, format="multipart")
    else:
        response = api.post(f"/api/v1/batches/{batch_id}/items", {**body, "more_to_come": True}, format="json")
    assert response.status_code == status, response.content
    if status == 200:  # the control: a good chunk is appended after the rows there
        assert snapshot(batch_id)[2][3:] == [(3, "3"), (4, "q3")]
        return
    assert problem in json.dumps(response.json()), response.content
    assert snapshot(batch_id) == before


@pytest.mark.django_db
def test_a_batch_not_created_with_more_to_come_takes_no_chunk(provider, api):
    batch_id = api.post("/api/v1/batches", {"model": "cheap", "requests": requests_for(2)}, format="json").json()["id"]
    response = api.post(f"/api/v1/batches/{batch_id}/items", {"requests": requests_for(1, start=5)}, format="json")
    assert response.status_code == 409 and "created with more_to_come" in response.json()["error"]["message"]
    assert Batch.objects.get(pk=batch_id).total == 2


@pytest.mark.django_db
def test_a_batch_is_created_from_a_multipart_file_with_its_options(provider, api):
    jsonl = b'{"custom_id": "a", "prompt": "Hello.", "max_tokens": 7}\n{"prompt": "Bye."}\n'
    response = api.post("/api/v1/batches", {
        "file": SimpleUploadedFile("jobs.jsonl", jsonl), "model": "cheap", "max_tokens": "30", "budget_usd": "0.5",
        "optiroute": json.dumps({"constraints": {"max_cost_usd": 0.01}})}, format="multipart")
    assert response.status_code == 202, response.content
    batch = Batch.objects.get()
    assert (batch.total, batch.max_tokens, batch.budget_usd, batch.options["constraints"]) == (
        2, 30, 0.5, {"max_cost_usd": 0.01})
    assert list(batch.items.order_by("position").values_list("custom_id", "max_tokens")) == [("a", 7), ("1", None)]


@pytest.mark.django_db
@pytest.mark.parametrize("fields, problem", [
    ({"file": ("jobs.csv", b"question\nWhat?\n")}, "jobs.csv, line 1: the columns are question"),
    ({"file": ("jobs.csv", b"prompt\nHi.\n"), "optiroute": "{not json"}, "optiroute: not valid JSON"),
    ({"file": ("jobs.csv", b"prompt\nHi.\n"), "model": "no-such-model"}, "no-such-model"),
])
def test_a_bad_multipart_batch_is_refused_naming_the_problem(provider, api, fields, problem):
    name, data = fields.pop("file")
    response = api.post("/api/v1/batches", {"file": SimpleUploadedFile(name, data), "model": "cheap", **fields},
                        format="multipart")
    assert 400 <= response.status_code < 500 and problem in response.json()["error"]["message"], response.content
    assert not Batch.objects.exists()


@pytest.mark.django_db
def test_the_console_adds_more_rows_to_an_open_batch(provider, client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user("grace", password="pw-grace-123", is_staff=True))
    first = SimpleUploadedFile("first.csv", b"prompt\nOne.\nTwo.\n")
    assert client.post("/console/batches/", {"file": first, "model": "cheap", "more_to_come": "on"}).status_code == 302
    batch = Batch.objects.get()
    page = client.get(f"/console/batches/{batch.pk}/").content.decode()
    assert "Add more rows" in page and "Waiting for more rows" in page

    bad = client.post(f"/console/batches/{batch.pk}/", {"file": SimpleUploadedFile("more.csv", b"prompt\n\xff\n")})
    assert bad.status_code == 400 and "more.csv, line 2: not UTF-8 text" in bad.content.decode()
    assert Batch.objects.get().total == 2

    more = SimpleUploadedFile("more.jsonl", b'{"prompt": "Three."}\n')
    assert client.post(f"/console/batches/{batch.pk}/", {"file": more}).status_code == 302
    batch.refresh_from_db()
    assert (batch.total, batch.awaiting_more) == (3, False)
    assert list(batch.items.order_by("position").values_list("custom_id", flat=True)) == ["0", "1", "2"]
    assert "Add more rows" not in client.get(f"/console/batches/{batch.pk}/").content.decode()
