"""Batches uploaded in the console as CSV or JSONL; a bad file is refused whole, naming the line and the problem."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from routing.batches.uploads import MAX_UPLOAD_BYTES
from routing.models import Batch, BatchItem


@pytest.fixture
def engineer(client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user("grace", password="pw-grace-123", is_staff=True))
    return client


def upload(client, name, content, **fields):
    data = content.encode() if isinstance(content, str) else content
    return client.post("/console/batches/", {"file": SimpleUploadedFile(name, data), "model": "cheap", **fields})


@pytest.mark.django_db
def test_it_stores_a_csv_upload_with_its_references_and_limits(provider, engineer):
    csv = ("custom_id,system,prompt,max_tokens,reference\n"
           'a,Answer briefly.,"What is 2+2, exactly?",5,4\n'
           "b,,Name a colour.,,\n")
    response = upload(engineer, "jobs.csv", csv, budget_usd="0.5", max_tokens="40", max_cost_usd="0.01")
    assert response.status_code == 302
    batch = Batch.objects.get()
    assert (batch.total, batch.model, batch.budget_usd, batch.max_tokens, batch.auto_run) == (2, "cheap", 0.5, 40,
                                                                                              False)
    assert batch.options == {"constraints": {"max_cost_usd": 0.01}}
    a, b = batch.items.order_by("position")
    assert (a.custom_id, a.max_tokens, a.reference) == ("a", 5, "4")
    assert a.messages == [{"role": "system", "content": "Answer briefly."},
                          {"role": "user", "content": "What is 2+2, exactly?"}]
    assert (b.custom_id, b.max_tokens, b.reference, b.messages) == (
        "b", None, "", [{"role": "user", "content": "Name a colour."}])
    assert batch.api_key.user.username == "grace"  # the engineer's own key, in their cohort


@pytest.mark.django_db
def test_it_says_who_answers_a_batch_that_names_its_model(provider, engineer):
    response = upload(engineer, "jobs.csv", "prompt\nName a colour.\n")

    notice = str(next(iter(response.wsgi_request._messages)))
    assert "cheap, the model it names, answers every row" in notice and "sample" not in notice.split("(")[0]


@pytest.mark.django_db
def test_it_stores_a_jsonl_upload(provider, engineer):
    jsonl = ('{"custom_id": "x", "prompt": "Hello there.", "reference": "hi"}\n'
             '{"messages": [{"role": "user", "content": "Count to three."}], "max_tokens": 9}\n')
    assert upload(engineer, "jobs.jsonl", jsonl, auto_run="on").status_code == 302
    x, second = BatchItem.objects.order_by("position")
    assert (x.custom_id, x.reference, second.custom_id, second.max_tokens) == ("x", "hi", "1", 9)
    assert Batch.objects.get().auto_run


@pytest.mark.django_db
@pytest.mark.parametrize("name, content, problem", [
    ("jobs.csv", "question,answer\nWhat?,That.\n", "jobs.csv, line 1: the columns are question, answer; a batch CSV "
                                                   "needs a prompt column"),
    ("jobs.csv", "prompt,colour\nHi,red\n", "(unknown: colour)"),
    ("jobs.csv", "custom_id,prompt\na,First.\n,\nc,Third.\n", "jobs.csv, line 3: an empty row"),
    ("jobs.csv", "custom_id,prompt\na,First.\nb,   \n", "jobs.csv, line 3: the prompt is empty"),
    ("jobs.csv", "prompt\nFirst.\nSecond,extra\n", "jobs.csv, line 3: more values than the 1 columns"),
    ("jobs.csv", "custom_id,prompt\na,First.\na,Again.\n", "jobs.csv, line 3: custom_id 'a' repeats line 2"),
    ("jobs.csv", "prompt,max_tokens\nFirst.,lots\n", "jobs.csv, line 2: max_tokens: A valid integer is required."),
    ("jobs.csv", "prompt\n", "jobs.csv holds no requests"),
    ("jobs.csv", "prompt\nFirst.\nCaf\xe9 au lait\n".encode("latin-1"), "jobs.csv, line 3: not UTF-8 text"),
    ("jobs.jsonl", '{"prompt": "First."}\n{"prompt": "Second."\n', "jobs.jsonl, line 2: not valid JSON"),
    ("jobs.jsonl", '{"prompt": "First."}\n\n{"prompt": "Third."}\n', "jobs.jsonl, line 2: an empty line"),
    ("jobs.jsonl", '["First."]\n', "jobs.jsonl, line 1: a JSON object is needed, not list"),
    ("jobs.jsonl", '{"prompt": "First.", "temperature": 2}\n', "jobs.jsonl, line 1: unknown key(s) temperature"),
    ("jobs.jsonl", '{"custom_id": "a"}\n', "jobs.jsonl, line 1: give a prompt or messages"),
    ("jobs.jsonl", '{"messages": [{"role": "robot", "content": "hi"}]}\n', "jobs.jsonl, line 1: role:"),
    ("jobs.txt", "prompt\nFirst.\n", "jobs.txt: upload a .csv or .jsonl file"),
])
def test_a_bad_upload_is_refused_naming_the_line_and_nothing_is_stored(provider, engineer, name, content, problem):
    response = upload(engineer, name, content)
    assert response.status_code == 400
    assert problem in response.content.decode().replace("&#x27;", "'"), response.content.decode()
    assert not Batch.objects.exists() and not BatchItem.objects.exists()


@pytest.mark.django_db
def test_it_stores_how_the_model_is_chosen(provider, engineer):
    csv = "prompt,reference\nWhat is 2+2?,4\nName a colour.,\n"
    response = upload(engineer, "jobs.csv", csv, model="optiroute/balanced", selection_mode="graded",
                      per_cluster="on")
    assert response.status_code == 302, response.content.decode()
    assert Batch.objects.get().options["selection"] == {"mode": "graded", "per_cluster": True}


@pytest.mark.django_db
def test_graded_choice_without_reference_answers_is_refused(provider, engineer):
    response = upload(engineer, "jobs.csv", "prompt\nWhat is 2+2?\n", model="optiroute/balanced",
                      selection_mode="graded")
    assert response.status_code == 400 and "Graded needs reference answers" in response.content.decode()
    assert not Batch.objects.exists()


@pytest.mark.django_db
def test_an_oversized_upload_is_refused_by_its_size(provider, engineer):
    response = upload(engineer, "huge.csv", b"prompt\n" + b"x" * MAX_UPLOAD_BYTES)
    assert response.status_code == 400 and "huge.csv is 21.0 MB; a batch upload may be at most 20 MB" in \
        response.content.decode()
    assert not Batch.objects.exists()


@pytest.mark.django_db
def test_only_staff_reach_the_batch_console(provider, client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user("mallory", password="pw-mallory-123"))
    assert client.get("/console/batches/").status_code == 302
    assert client.post("/console/batches/", {}).status_code == 302
