from celery import shared_task

from registry.services import import_job_run, import_jobs_requeue


@shared_task(acks_late=True)
def import_job_task(job_id: int) -> None:
    import_job_run(job_id=job_id)


@shared_task
def import_jobs_requeue_task() -> None:
    import_jobs_requeue()
