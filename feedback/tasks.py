from __future__ import annotations

from celery import shared_task

from feedback.services import feedback_fold


@shared_task
def feedback_fold_task() -> int:
    """Fold new ratings into the registry's evidence; periodic (optiroute.celery), safe to repeat."""
    return feedback_fold()
