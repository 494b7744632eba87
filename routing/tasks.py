from __future__ import annotations

from celery import shared_task

from routing.analysis.training import analyzer_train


@shared_task
def analyzer_train_task() -> int:
    """Retrain the task analyzer; safe to repeat, as unchanged training data returns the latest version."""
    return analyzer_train().pk


@shared_task
def estimator_train_task() -> int | None:
    """Refit the per-model success models; unchanged evidence returns the latest version."""
    from routing.learning.estimator import estimator_train

    version = estimator_train()
    return version.pk if version else None


@shared_task(acks_late=True)
def batch_run_task(batch_id: str) -> None:
    """Choose a batch's model and propose it (or start it, with auto_run); safe to repeat."""
    from routing.batches.services import batch_run

    batch_run(batch_id=batch_id)


@shared_task(acks_late=True)
def batch_chunk_task(batch_id: str, start: int) -> int:
    """Answer one chunk of a batch, then help with the rest; rows claimed or answered are left alone."""
    from routing.batches.services import batch_chunk_run, batch_has_claims, claim_timeout

    answered = batch_chunk_run(batch_id=batch_id, start=start)
    if batch_has_claims(batch_id=batch_id):
        # Other workers hold rows; if one of them died, its claim goes stale: look again then.
        batch_chunk_task.apply_async((batch_id, start), countdown=claim_timeout().total_seconds())
    return answered


@shared_task(acks_late=True)
def evaluation_run_task(run_id: int) -> None:
    """Run the evaluation harness for one queued run; safe to repeat."""
    from routing.evaluation.services import evaluation_run_execute

    evaluation_run_execute(run_id=run_id)


@shared_task
def prompt_retention_task() -> None:
    from routing.retention import prompt_retention_apply

    prompt_retention_apply()


@shared_task
def observed_latency_refresh_task() -> int:
    """Roll the gateway's recent call timings up into each model's observed latency; safe to repeat."""
    from routing.inference.timings import observed_latency_refresh

    return observed_latency_refresh()
