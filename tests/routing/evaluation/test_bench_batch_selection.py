"""bench_batch_selection: it times a batch's choice, reports it, and leaves no batch behind."""

import json

import pytest
from django.core.management import call_command

from routing.batches.selection import MIN_SAMPLE
from routing.models import ApiKey, Batch


@pytest.mark.django_db
def test_it_reports_the_choice_of_a_batch_and_removes_the_batch(write_bundle, tmp_path):
    call_command("import_evaluations", str(write_bundle()), "--dataset", "tiny")
    out = tmp_path / "bench.json"

    call_command("bench_batch_selection", "--dataset", "tiny", "--n", "50", "--out", str(out))

    report = json.loads(out.read_text())
    assert report["n"] == 50 and report["sample_size"] == MIN_SAMPLE and report["seconds"] >= 0
    assert report["proposal"] in {"big-model", "small-model"}
    assert not Batch.objects.exists() and not ApiKey.objects.filter(label="bench_batch_selection").exists()
