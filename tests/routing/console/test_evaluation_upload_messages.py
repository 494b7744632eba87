"""What a bad evaluation upload tells a web user: the first file-level failure alone, in the page's words."""

from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from registry.importers import EvaluationImportError
from registry.models import ImportJob
from registry.services import evaluation_import, import_job_run

pytestmark = pytest.mark.django_db


def failed_upload(folder: Path) -> ImportJob:
    job = ImportJob.objects.create(dataset_name="uploaded", source_format="bundle", upload_dir=str(folder))
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed"
    return job


def test_a_bad_byte_in_prompts_is_reported_alone(write_bundle: Any) -> None:
    bundle = write_bundle()
    (bundle / "prompts.jsonl").write_bytes(b'{"prompt_id": "p1", "prompt": "a"}\n{"prompt_id": "p2", "prompt": "caf\xe9"}\n')
    assert failed_upload(bundle).errors == ["prompts.jsonl line 2: not valid UTF-8 (byte 69)"]


def test_results_of_a_refused_prompt_line_are_not_blamed_again(write_bundle: Any) -> None:
    prompts = [{"prompt_id": "p1", "prompt": "a"}, {"prompt_id": "p2", "prompt": ""}]
    bundle = write_bundle(prompts=prompts, results="prompt_id,model,score\np1,big-model,1\np2,big-model,1\n")
    with pytest.raises(EvaluationImportError) as refused:
        evaluation_import(path=bundle, dataset_name="d")
    assert refused.value.errors == ["prompts.jsonl line 2: prompt is required and must be a non-empty string"]


def test_an_unknown_model_names_the_checkbox_on_the_page(write_bundle: Any) -> None:
    job = failed_upload(write_bundle(models=[]))
    assert job.errors and 'tick "Create models" on the upload form' in job.errors[0]
    assert "--create-models" not in job.errors[0]


def test_the_command_line_still_names_its_flag(write_bundle: Any) -> None:
    with pytest.raises(Exception, match="pass --create-models"):
        call_command("import_evaluations", str(write_bundle(models=[])), "--dataset", "d")
