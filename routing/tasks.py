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
    """Route a batch's sample and queue its chunks; safe to repeat."""
    from routing.batches.services import batch_run

    batch_run(batch_id=batch_id)


@shared_task(acks_late=True)
def batch_chunk_task(batch_id: str, start: int) -> int:
    """Answer one chunk of a batch; items already claimed or answered are left alone."""
    from routing.batches.services import STALE_CLAIM, batch_chunk_run, chunk_unfinished

    answered = batch_chunk_run(batch_id=batch_id, start=start)
    if chunk_unfinished(batch_id=batch_id, start=start):
        # Another worker holds part of the chunk; if it died, its claim goes stale: look again then.
        batch_chunk_task.apply_async((batch_id, start), countdown=STALE_CLAIM.total_seconds())
    return answered


@shared_task(acks_late=True)
def evaluation_run_task(run_id: int) -> None:
    """Run the evaluation harness for one queued run; safe to repeat."""
    from routing.evaluation.services import evaluation_run_execute

    evaluation_run_execute(run_id=run_id)
