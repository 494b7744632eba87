"""Feedback's influence is bounded: a rater's newest few ratings per model and task type count,
ratings age out, a cohort can switch learning off, and a cohort's feedback changes its own
routing unless it shares it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from feedback.models import Feedback
from feedback.services import feedback_fold
from registry.models import FIELD_FORMAT, LLM, EvaluationResult
from routing.access.keys import api_key_create
from routing.engine.snapshot import snapshots
from routing.models import Cohort
from tests.conftest import bearer_client
from tests.feedback.test_feedback import answered, rate

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(cheap_and_pricey, settings):
    settings.FEEDBACK_RATER_CAP = 3
    return cheap_and_pricey


def client_of(cohort_name):
    Cohort.objects.get_or_create(name=cohort_name)
    return bearer_client(api_key_create(cohort_name=cohort_name)[1])


def field_scores():
    return list(EvaluationResult.objects.filter(prompt__dataset__source_format=FIELD_FORMAT).values_list(
        "score", flat=True))


def test_a_rater_hammering_thumbs_down_counts_no_more_than_the_bound(provider):
    hammer = client_of("team")
    # The cohort's pool holds one model, so that every rating lands on it however routing reacts
    # to the first ones (the routing snapshot reloads within seconds of a fold).
    Cohort.objects.get(name="team").allowed_models.set(LLM.objects.filter(name="cheap"))
    for _ in range(6):
        rate(hammer, answered(hammer)["optiroute"]["decision_id"], "down")
        feedback_fold()
    assert field_scores() == [0.0] * 3
    other = client_of("team")
    rate(other, answered(other)["optiroute"]["decision_id"], "down")
    feedback_fold()
    assert len(field_scores()) == 4  # another rater's count is their own


def test_ratings_age_out(provider, settings):
    owner = client_of("team")
    rate(owner, answered(owner)["optiroute"]["decision_id"], "down")
    feedback_fold()
    assert field_scores() == [0.0]
    given = timezone.now() - timedelta(days=settings.FEEDBACK_HORIZON_DAYS + 1)
    Feedback.objects.update(updated_at=given, folded_at=given + timedelta(minutes=1))  # as time passes
    assert feedback_fold() == 1
    assert field_scores() == [] and feedback_fold() == 0


def test_a_cohort_can_switch_learning_off(provider):
    owner = client_of("quiet")
    Cohort.objects.filter(name="quiet").update(learns_from_feedback=False)
    rate(owner, answered(owner)["optiroute"]["decision_id"], "down")
    feedback_fold()
    assert field_scores() == [] and not Feedback.objects.unfolded().exists()


def test_a_cohorts_feedback_changes_its_own_routing_unless_shared(provider, settings):
    settings.FEEDBACK_RATER_CAP = 5
    raters, neighbours = client_of("raters"), client_of("neighbours")
    for _ in range(5):
        rate(raters, answered(raters)["optiroute"]["decision_id"], "down")
    feedback_fold()
    snapshots.clear()
    assert answered(raters)["model"] == "pricey"
    assert answered(neighbours)["model"] == "cheap"
    Cohort.objects.filter(name="raters").update(shares_feedback=True)
    Feedback.objects.update(folded_at=None)  # refolded: changing the flag does not refold by itself yet
    feedback_fold()
    snapshots.clear()
    assert answered(neighbours)["model"] == "pricey"
