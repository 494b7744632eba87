"""The workers fold ratings: the periodic task, run by a real worker through the real broker,
folds each rating once, keeps one rater within the bound, and loses nothing while the broker is
unreachable."""

import socket

import pytest
from kombu.exceptions import OperationalError

from feedback.models import Feedback
from feedback.tasks import feedback_fold_task
from optiroute.celery import app
from registry.models import FIELD_FORMAT, EvaluationResult
from routing.access.keys import api_key_create
from routing.models import Cohort
from tests.conftest import bearer_client, wait_until
from tests.feedback.test_feedback import answered, rate

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
