"""Uploads from the admin console run as jobs on a real Celery worker."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from registry.models import Dataset, ImportJob, Prompt
from tests.conftest import wait_until


@pytest.fixture
def staff_client(staff):
    return staff.client


def zipped(folder):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in folder.iterdir():
            archive.write(path, f"bundle/{path.name}")
    return SimpleUploadedFile("bundle.zip", buffer.getvalue(), content_type="application/zip")


def finished_job(client, job_id):
    def done():
        page = client.get(f"/console/imports/{job_id}/", HTTP_HX_REQUEST="true")
        return 'data-status="succeeded"' in page.content.decode() or 'data-status="failed"' in page.content.decode()

    wait_until(done)
    return ImportJob.objects.get(pk=job_id)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_imports_an_uploaded_zip_on_a_worker(celery_worker, staff_client, write_bundle):
    response = staff_client.post("/console/imports/", {"dataset": "uploaded", "format": "bundle",
                                                       "files": zipped(write_bundle())})
    assert response.status_code == 302
    job = finished_job(staff_client, int(response["Location"].rstrip("/").split("/")[-1]))

    assert job.status == "succeeded", job.errors
    assert job.progress == 100 and job.report["prompts"] == 3
    assert Dataset.objects.get(name="uploaded").stats["results"] == 6
    page = staff_client.get(f"/console/imports/{job.pk}/").content.decode()
    assert "3 prompts and 6 results" in page


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_shows_the_errors_of_a_bad_upload_and_imports_nothing(celery_worker, staff_client, write_bundle):
    bad = write_bundle(results="prompt_id,model,score\np1,big-model,2\n")
    response = staff_client.post("/console/imports/", {"dataset": "bad", "format": "bundle",
                                                       "files": [SimpleUploadedFile(p.name, p.read_bytes())
                                                                 for p in bad.iterdir()]})
    job = finished_job(staff_client, int(response["Location"].rstrip("/").split("/")[-1]))

    assert job.status == "failed"
    assert any("results.csv line 2" in error for error in job.errors)
    assert "score must be between 0 and 1" in staff_client.get(f"/console/imports/{job.pk}/").content.decode()
    assert not Dataset.objects.filter(name="bad").exists() and not Prompt.objects.exists()


@pytest.mark.django_db
def test_it_refuses_an_unexpected_file_with_a_form_error(staff_client):
    response = staff_client.post("/console/imports/", {"dataset": "x", "format": "bundle",
                                                       "files": SimpleUploadedFile("evil.sh", b"rm -rf /")})
    assert response.status_code == 400
    assert "unexpected file" in response.content.decode()
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_broken_zip(staff_client):
    response = staff_client.post("/console/imports/", {"dataset": "x", "format": "bundle",
                                                       "files": SimpleUploadedFile("b.zip", b"not a zip")})
    assert response.status_code == 400 and "not a valid zip" in response.content.decode()


@pytest.mark.django_db
def test_it_keeps_the_console_from_non_staff(client, non_staff):
    assert client.get("/console/imports/").status_code == 302
    response = non_staff.client.get("/console/imports/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_a_job_is_claimed_once(write_bundle, tmp_path):
    job = ImportJob.objects.create(dataset_name="d", upload_dir=str(write_bundle()))
    assert ImportJob.objects.claim(job.pk)
    job.status = ImportJob.Status.SUCCEEDED
    job.save()
    assert not ImportJob.objects.claim(job.pk)
