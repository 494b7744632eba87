"""The workers fold ratings: the periodic task, run by a real worker through the real broker,
folds each rater's rating of a decision once, keeps one rater within the bound, loses nothing
while the broker is unreachable, and a reset undoes what it folded."""

import socket

import pytest
from kombu.exceptions import OperationalError

from feedback.models import Feedback
from feedback.services import feedback_reset
from feedback.tasks import feedback_fold_task
from optiroute.celery import app
from registry.models import FIELD_FORMAT, LLM, EvaluationResult
from routing.access.keys import api_key_create
from routing.models import Cohort
from tests.conftest import bearer_client, wait_until
from tests.feedback.test_feedback import answered, rate
from tests.feedback.test_reset import cheap_estimate

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def team(cheap_and_pricey):
    Cohort.objects.create(name="team")
    return [bearer_client(api_key_create(cohort_name="team")[1]) for _ in range(2)]


def field_results():
    return EvaluationResult.objects.filter(prompt__dataset__source_format=FIELD_FORMAT)


def unreachable_broker() -> str:
    with socket.socket() as probe:  # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{probe.getsockname()[1]}/0"


def test_every_rating_given_while_the_broker_is_down_is_folded_once(celery_worker, team):
    decisions = [answered(client)["optiroute"]["decision_id"] for client in team for _ in range(2)]
    for client, decision_id in zip(team * 2, decisions[0:4:2] + decisions[1:4:2], strict=True):
        rate(client, decision_id, "down")  # ratings are stored without the broker
        with app.connection_for_write(unreachable_broker()) as down, pytest.raises(OperationalError):
            feedback_fold_task.apply_async(connection=down, retry=False)  # the periodic send fails
    assert Feedback.objects.unfolded().count() == 4
    feedback_fold_task.delay()
    feedback_fold_task.delay()  # a duplicate send does no harm
    wait_until(lambda: not Feedback.objects.unfolded().exists())
    assert sorted(field_results().values_list("prompt__external_id", flat=True)) == sorted(decisions)


def test_a_rater_hammering_thumbs_down_through_the_workers_stays_within_the_bound(celery_worker, team, settings):
    hammer = team[0]
    for _ in range(7):
        rate(hammer, answered(hammer)["optiroute"]["decision_id"], "down")
    feedback_fold_task.delay()
    wait_until(lambda: not Feedback.objects.unfolded().exists())
    assert field_results().count() == settings.FEEDBACK_RATER_CAP == 5


def fold_on_the_workers():
    feedback_fold_task.delay()
    wait_until(lambda: not Feedback.objects.unfolded().exists())


def test_a_rating_is_stored_once_per_rater_and_decision_and_folded_once(celery_worker, team):
    Cohort.objects.filter(name="team").update(keys_rate_cohort_decisions=True)
    decision_id = answered(team[0])["optiroute"]["decision_id"]
    for client, ratings in zip(team, [["down", "up"], ["down", "down"]], strict=True):
        for rating in ratings:
            rate(client, decision_id, rating)  # a second rating of the same rater replaces the first
    fold_on_the_workers()
    assert sorted(Feedback.objects.values_list("rating", flat=True)) == [-1, 1]
    assert list(field_results().values_list("prompt__external_id", "score")) == [(decision_id, 0.5)]


def test_a_reset_restores_the_estimate_the_workers_changed(celery_worker, team):
    before = cheap_estimate(team[0])
    for _ in range(3):
        rate(team[0], answered(team[0])["optiroute"]["decision_id"], "down")
    fold_on_the_workers()
    assert cheap_estimate(team[0]) < before
    assert feedback_reset(llm_id=LLM.objects.get(name="cheap").pk) == 3
    assert cheap_estimate(team[0]) == before and not field_results().exists()
