"""Folding feedback refreshes what routing reads: the estimator and its shrinkage retrain through
the registry's evaluations_imported signal, as after an import (the snapshot reloads on the
field dataset's change: test_feedback.test_routing_learns_from_thumbs_down)."""

import pytest

from feedback.services import feedback_fold
from registry.models import FIELD_FORMAT, Dataset
from registry.signals import evaluations_imported
from routing.access.keys import api_key_create
from tests.conftest import bearer_client
from tests.feedback.test_feedback import answered, rate

pytestmark = pytest.mark.django_db


def test_folding_signals_the_retraining_an_import_triggers(cheap_and_pricey, django_capture_on_commit_callbacks):
    owner = bearer_client(api_key_create(cohort_name=None)[1])
    rate(owner, answered(owner)["optiroute"]["decision_id"], "down")
    heard: list[int] = []

    def listen(sender, dataset_id, **kwargs):
        heard.append(dataset_id)

    evaluations_imported.connect(listen)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            feedback_fold()
    finally:
        evaluations_imported.disconnect(listen)
    assert heard == [Dataset.objects.get(source_format=FIELD_FORMAT).pk]
