from __future__ import annotations

from celery import shared_task

from routing.analyzer import analyzer_train


@shared_task
def analyzer_train_task() -> int:
    """Retrain the task analyzer; safe to repeat, as unchanged training data returns the latest version."""
    return analyzer_train().pk


@shared_task
def estimator_train_task() -> int | None:
    """Refit the per-model success models; unchanged evidence returns the latest version."""
    from routing.estimator import estimator_train

    version = estimator_train()
    return version.pk if version else None
