import os

from celery import Celery
from celery.signals import task_prerun, worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "optiroute.settings")

app = Celery("optiroute")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Periodic work, declared here so every deployment runs it (`celery worker --beat`, or a beat service).
app.conf.beat_schedule = {
    "fold-feedback": {"task": "feedback.tasks.feedback_fold_task", "schedule": 60.0},
    "requeue-import-jobs": {"task": "registry.tasks.import_jobs_requeue_task", "schedule": 60.0},
    "observed-latency": {"task": "routing.tasks.observed_latency_refresh_task", "schedule": 60.0},
    "prompt-retention": {"task": "routing.tasks.prompt_retention_task", "schedule": 3600.0},
}


@task_prerun.connect
def _log_under_task_id(task_id: str | None = None, **_: object) -> None:
    from optiroute.logs import task_context

    task_context(task_id or "")


@worker_init.connect
@worker_process_init.connect
def _trace_if_configured(**_: object) -> None:
    from optiroute.tracing import tracing_setup

    tracing_setup()
