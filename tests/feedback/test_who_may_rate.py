"""Who may rate an answer: a person their own answers, a key the decisions made with it (or its
cohort's, where the cohort allows it); one rating per rater and decision, which a second changes."""

import pytest
from django.contrib.auth import get_user_model

from feedback.models import Feedback
from routing.access.keys import api_key_create
from routing.models import Cohort, Decision
from tests.conftest import bearer_client
from tests.feedback.test_feedback import answered, rate

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(cheap_and_pricey):
    return cheap_and_pricey


@pytest.fixture
def team():
    cohort = Cohort.objects.create(name="team")
    return cohort, bearer_client(api_key_create(cohort_name="team")[1]), bearer_client(
        api_key_create(cohort_name="team")[1])


def test_a_key_rates_only_its_own_decisions(provider, team):
    _, owner, teammate = team
    decision_id = answered(owner)["optiroute"]["decision_id"]
    assert rate(teammate, decision_id, "down", status=404)["error"]["type"] == "decision_not_found"
    rate(owner, decision_id, "up")
    assert Feedback.objects.get().rating == Feedback.Rating.UP


def test_a_cohort_may_let_its_keys_rate_each_others_decisions(provider, team):
    cohort, owner, teammate = team
    cohort.keys_rate_cohort_decisions = True
    cohort.save()
    decision_id = answered(owner)["optiroute"]["decision_id"]
    rate(teammate, decision_id, "down")
    rate(owner, decision_id, "up")
    assert sorted(Feedback.objects.values_list("rating", flat=True)) == [-1, 1]  # one rating per key


def test_a_second_rating_changes_the_first(provider, team):
    _, owner, _ = team
    decision_id = answered(owner)["optiroute"]["decision_id"]
    for rating in ["up", "regenerated", "edited", "down"]:
        assert rate(owner, decision_id, rating)["rating"] == rating
    assert Feedback.objects.get().rating == Feedback.Rating.DOWN


def test_implicit_signals_are_weaker_negatives(provider, team):
    _, owner, _ = team
    rate(owner, answered(owner)["optiroute"]["decision_id"], "regenerated")
    rate(owner, answered(owner)["optiroute"]["decision_id"], "edited", comment="fixed the numbers")
    scores = {f.get_rating_display(): f.score for f in Feedback.objects.all()}
    assert scores == {"regenerated": 0.25, "edited": 0.5}
    assert Feedback.SCORES[Feedback.Rating.DOWN] < min(scores.values()) < Feedback.SCORES[Feedback.Rating.UP]


@pytest.fixture
def people(client, fake_provider):
    ada, eve = (get_user_model().objects.create_user(name, password=f"pw-{name}-123") for name in ["ada", "eve"])
    Cohort.objects.create(name="lab").members.add(ada, eve)
    return ada, eve


def test_a_person_rates_only_their_own_answers(client, people):
    ada, eve = people
    client.force_login(ada)
    client.post("/chat/", {"message": "Say hello to the team.", "profile": "auto"}, HTTP_HX_REQUEST="true")
    decision = Decision.objects.get()
    client.force_login(eve)  # same cohort, knows the id
    assert client.post(f"/chat/feedback/{decision.pk}/down/", HTTP_HX_REQUEST="true").status_code == 404
    client.force_login(ada)
    for rating in ["down", "up"]:
        assert client.post(f"/chat/feedback/{decision.pk}/{rating}/", HTTP_HX_REQUEST="true").status_code == 200
    feedback = Feedback.objects.get()
    assert feedback.user == ada and feedback.rating == Feedback.Rating.UP
