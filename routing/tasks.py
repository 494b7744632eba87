from __future__ import annotations

from celery import shared_task

from routing.analyzer import analyzer_train


@shared_task
def analyzer_train_task() -> int:
    """Retrain the task analyzer; safe to repeat, as unchanged training data returns the latest version."""
    return analyzer_train().pk
