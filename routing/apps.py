from typing import Any

from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "routing"

    def ready(self) -> None:
        from registry.signals import evaluations_imported

        evaluations_imported.connect(_retrain_analyzer, dispatch_uid="routing-retrain-analyzer")


def _retrain_analyzer(sender: Any, dataset_id: int, **kwargs: Any) -> None:
    """New labelled prompts and outcomes: retrain the analyzer and the success models on a worker."""
    import logging

    from routing.tasks import analyzer_train_task, estimator_train_task

    try:
        analyzer_train_task.delay()
        estimator_train_task.delay()
    except Exception:
        logging.getLogger(__name__).warning("could not queue analyzer retraining", exc_info=True)
