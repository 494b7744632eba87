"""Evaluation runs in the background: the harness on one dataset, for the console's reports and
for placing a profile's weights on a dataset's quality-versus-cost chart."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from optiroute.api_errors import OptiRouteError
from registry.models import Dataset
from routing.engine.strategies import DEFAULT_STRATEGY
from routing.evaluation.harness import evaluate
from routing.models import EvaluationRun, PreferenceProfile


def evaluation_run_create(*, user: Any, dataset: Dataset, profile: PreferenceProfile | None = None,
                          weights: dict[str, float] | None = None) -> EvaluationRun:
    """Queue a run once its row is committed: the router's evaluation, or with `profile` and its
    `weights` (as edited), where that profile lands."""
    from routing.tasks import evaluation_run_task

    kind = EvaluationRun.Kind.ROUTER if profile is None else EvaluationRun.Kind.PROFILE
    with transaction.atomic():
        run = EvaluationRun.objects.create(dataset=dataset, kind=kind, profile=profile, weights=weights or {},
                                           created_by=user if getattr(user, "pk", None) else None,
                                           stage="waiting for a worker")
        transaction.on_commit(lambda: evaluation_run_task.delay(run.pk))
    return run


def evaluation_run_execute(*, run_id: int) -> EvaluationRun | None:
    """Run one queued evaluation; safe to call twice (a second call finds it claimed or done)."""
    if not EvaluationRun.objects.claim(run_id):
        # A run whose workers kept dying is given up, visibly, rather than left "running".
        EvaluationRun.objects.filter(pk=run_id, status=EvaluationRun.Status.RUNNING,
                                     attempts__gte=EvaluationRun.MAX_ATTEMPTS).update(
            status=EvaluationRun.Status.FAILED, finished_at=timezone.now(),
            error=f"the worker stopped {EvaluationRun.MAX_ATTEMPTS} times while running this evaluation; start it again")
        return None
    run = EvaluationRun.objects.select_related("dataset").get(pk=run_id)

    def progress(stage: str, percent: int) -> None:
        EvaluationRun.objects.filter(pk=run_id).update(stage=stage[:100], progress=percent)

    # A profile is placed with the strategy routing uses; the router's evaluation compares them all.
    profile_run = run.kind == EvaluationRun.Kind.PROFILE
    try:
        report = evaluate(dataset_name=run.dataset.name, strategies=[DEFAULT_STRATEGY] if profile_run else None,
                          weights=run.weights if profile_run else None, progress=progress)
    except OptiRouteError as exc:
        _finish(run_id, EvaluationRun.Status.FAILED, error=exc.message)
    except Exception as exc:
        _finish(run_id, EvaluationRun.Status.FAILED, error=f"internal error: {type(exc).__name__}")
        raise
    else:
        _finish(run_id, EvaluationRun.Status.SUCCEEDED, report=report)
    return EvaluationRun.objects.get(pk=run_id)


def _finish(run_id: int, status: str, *, error: str = "", report: dict[str, Any] | None = None) -> None:
    done = {"progress": 100, "stage": "done"} if status == EvaluationRun.Status.SUCCEEDED else {}
    EvaluationRun.objects.filter(pk=run_id).update(status=status, error=error, report=report or {},
                                                   finished_at=timezone.now(), **done)
