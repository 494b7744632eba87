import gc
import os
import subprocess
import sys

import pytest
from django.core.management import call_command

from registry.models import Dataset, ImportJob
from registry.services import import_job_run
from tests.conftest import ROOT


def run_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS"}}
    return subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, text=True,
                          capture_output=True, env={**clean, "DJANGO_SETTINGS_MODULE": "optiroute.settings", **env})


def test_production_refuses_to_start_without_its_secrets():
    result = run_settings(OPTIROUTE_ENV="production")
    assert result.returncode != 0 and "SECRET_KEY is required" in result.stderr
    result = run_settings(OPTIROUTE_ENV="production", SECRET_KEY="x" * 50)
    assert result.returncode != 0 and "ALLOWED_HOSTS is required" in result.stderr


def test_a_bad_setting_is_named():
    result = run_settings(CIRCUIT_FAILURES="many")
    assert result.returncode != 0 and "CIRCUIT_FAILURES must be an integer" in result.stderr


@pytest.mark.django_db
def test_a_job_whose_worker_died_mid_run_can_run_again(write_bundle):
    job = ImportJob.objects.create(dataset_name="restarted", upload_dir=str(write_bundle()),
                                   status=ImportJob.Status.RUNNING, attempts=1, progress=15)
    finished = import_job_run(job_id=job.pk)
    assert finished.status == ImportJob.Status.SUCCEEDED and finished.attempts == 2
    assert Dataset.objects.get(name="restarted").stats["prompts"] == 3
    assert import_job_run(job_id=job.pk) is None  # a duplicate delivery does nothing


@pytest.mark.django_db
def test_a_job_that_keeps_crashing_is_not_retried_forever(write_bundle):
    job = ImportJob.objects.create(dataset_name="x", upload_dir=str(write_bundle()),
                                   status=ImportJob.Status.RUNNING, attempts=ImportJob.MAX_ATTEMPTS)
    assert import_job_run(job_id=job.pk) is None
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED and "stopped 3 times" in job.errors[0]


@pytest.mark.django_db
def test_a_web_worker_loads_routing_state_before_its_first_request(django_assert_num_queries, monkeypatch):
    """After the worker hook, a first decision reads no table: the snapshot with its evidence, the
    analyzer and the estimator are loaded (the one search runs on its own binary cursor)."""
    from types import SimpleNamespace

    from optiroute.gunicorn_conf import post_worker_init
    from routing.analysis.serving import analyzers
    from routing.engine.costs import observed_figures
    from routing.engine.snapshot import snapshots
    from routing.learning.estimator import estimators
    from routing.pipeline import decision_make

    call_command("import_models", verbosity=0)
    for cache in (snapshots, analyzers, estimators, observed_figures):  # no periodic recheck inside the test, however slow
        monkeypatch.setattr(cache, "recheck_seconds", 3600.0)
    try:
        post_worker_init(SimpleNamespace(pid=os.getpid()))
        assert gc.get_freeze_count() > 0  # what it loaded is out of the collector's way
        with django_assert_num_queries(0):
            decision_make(text="Write a haiku about routers.", save=False)
    finally:
        gc.unfreeze()
