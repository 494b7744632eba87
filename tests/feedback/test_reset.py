"""Staff can undo what feedback changed for a model: the estimate routing uses comes back."""

import pytest

from feedback.models import Feedback
from feedback.services import feedback_fold, feedback_reset
from registry.models import LLM
from routing.access.keys import api_key_create
from routing.engine.snapshot import snapshots
from tests.conftest import bearer_client
from tests.feedback.test_feedback import answered, rate

pytestmark = pytest.mark.django_db


def cheap_estimate(client):
    snapshots.clear()  # other processes see the change within the snapshot's refresh
    route = client.post("/api/v1/route", {"prompt": "Explain recursion with a short Python example."}, format="json")
    return next(c["expected_quality"] for c in route.json()["candidates"] if c["model"] == "cheap")


def test_a_reset_restores_the_estimate(cheap_and_pricey):
    owner = bearer_client(api_key_create(cohort_name=None)[1])
    before = cheap_estimate(owner)
    for _ in range(5):
        rate(owner, answered(owner)["optiroute"]["decision_id"], "down")
    feedback_fold()
    assert cheap_estimate(owner) < before
    assert feedback_reset(llm_id=LLM.objects.get(name="cheap").pk) == 5
    assert cheap_estimate(owner) == before
    assert Feedback.objects.filter(reset_at__isnull=False).count() == 5  # kept on record
