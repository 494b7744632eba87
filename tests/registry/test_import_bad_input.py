"""Every bad input refuses the import as a whole, naming file, line and reason."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from registry.models import LLM, Dataset, EvaluationResult, Prompt

pytestmark = pytest.mark.django_db

HEADER = "prompt_id,model,score\n"


def refused(bundle, *expected: str) -> str:
    with pytest.raises(CommandError) as info:
        call_command("import_evaluations", str(bundle), "--dataset", "bad")
    message = str(info.value)
    for part in expected:
        assert part in message
    assert Dataset.objects.count() == 0 and Prompt.objects.count() == 0
    assert EvaluationResult.objects.count() == 0
    return message


def test_it_refuses_a_missing_column(write_bundle):
    refused(write_bundle(results="prompt_id,model\np1,big-model\n"), "results.csv line 1", "missing column(s): score")


def test_it_refuses_a_score_outside_0_1(write_bundle):
    refused(write_bundle(results=HEADER + "p1,big-model,1\np2,big-model,1.5\n"),
            "results.csv line 3", "score must be between 0 and 1")


def test_it_refuses_an_unknown_model(write_bundle):
    refused(write_bundle(results=HEADER + "p1,mystery-model,1\n", models=[]), "unknown model(s): mystery-model")
    assert not LLM.objects.filter(name="mystery-model").exists()


def test_it_refuses_a_duplicate_result_row(write_bundle):
    refused(write_bundle(results=HEADER + "p1,big-model,1\np1,big-model,0\n"),
            "results.csv line 3", "duplicate result", "first on line 2")


def test_it_refuses_a_duplicate_prompt_id(write_bundle):
    prompts = [{"prompt_id": "p1", "prompt": "a"}, {"prompt_id": "p1", "prompt": "b"}]
    refused(write_bundle(prompts=prompts, results=HEADER + "p1,big-model,1\n"),
            "prompts.jsonl line 2", "duplicate prompt_id")


def test_it_refuses_a_result_for_an_unknown_prompt(write_bundle):
    refused(write_bundle(results=HEADER + "p9,big-model,1\n"), "results.csv line 2", "not in prompts.jsonl")


def test_it_refuses_a_non_utf8_file(write_bundle):
    bundle = write_bundle()
    (bundle / "results.csv").write_bytes(HEADER.encode() + b"p1,big-model,1\np2,caf\xe9,1\n")
    refused(bundle, "results.csv line 3", "not valid UTF-8")


def test_it_refuses_an_empty_file(write_bundle):
    bundle = write_bundle()
    (bundle / "prompts.jsonl").write_text("")
    refused(bundle, "prompts.jsonl", "file is empty")


def test_it_refuses_invalid_json_and_bad_fields(write_bundle):
    bundle = write_bundle()
    with open(bundle / "prompts.jsonl", "a") as f:
        f.write("{not json\n" + json.dumps({"prompt_id": "p4", "prompt": "x", "split": "dev"}) + "\n")
    refused(bundle, "prompts.jsonl line 4: invalid JSON", "prompts.jsonl line 5: split must be")


@override_settings(OPTIROUTE_MAX_UPLOAD_BYTES=100)
def test_it_refuses_a_file_over_the_size_limit(write_bundle):
    refused(write_bundle(), "prompts.jsonl", "over the limit of 100")


def test_it_refuses_a_missing_folder(tmp_path):
    refused(tmp_path / "nowhere", "no such file or folder")


def test_a_bad_reimport_leaves_the_previous_data_intact(write_bundle):
    call_command("import_evaluations", str(write_bundle(name="good")), "--dataset", "bad")
    prompts = Prompt.objects.count()
    with pytest.raises(CommandError):
        call_command("import_evaluations", str(write_bundle(name="worse", results=HEADER + "p1,big-model,7\n")),
                     "--dataset", "bad")
    assert Prompt.objects.count() == prompts and Dataset.objects.count() == 1


def test_it_refuses_a_bad_catalog(tmp_path):
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"providers": [{"name": "x", "kind": "telepathy"}],
                                   "models": [{"name": "m", "helpfulness": 3}]}))
    with pytest.raises(CommandError) as info:
        call_command("import_models", str(catalog))
    assert "kind must be one of" in str(info.value) and "helpfulness must be between 0 and 1" in str(info.value)
    assert not LLM.objects.filter(name="m").exists()
