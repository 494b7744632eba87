"""Thumbs up/down on answered calls: recorded per key, scoped to the cohort, folded into the
registry's evidence, and routing learns from it."""

import uuid

import pytest
from rest_framework.test import APIClient

from feedback.models import Feedback
from feedback.services import feedback_fold
from registry.models import FIELD_FORMAT, EvaluationResult
from routing.engine.snapshot import snapshots
from routing.models import Decision

pytestmark = pytest.mark.django_db
QUESTION = [{"role": "user", "content": "Explain recursion with a short Python example."}]


@pytest.fixture
def provider(cheap_and_pricey):
    return cheap_and_pricey


def answered(client, model="optiroute/quality-first"):
    response = client.post("/v1/chat/completions", {"model": model, "messages": QUESTION}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def rate(client, decision_id, rating, status=200, **extra):
    response = client.post("/api/v1/feedback", {"decision_id": decision_id, "rating": rating, **extra}, format="json")
    assert response.status_code == status, response.content
    return response.json()


def test_it_records_a_rating_and_lets_the_key_change_it(provider, owner):
    decision_id = answered(owner.api)["optiroute"]["decision_id"]
    assert rate(owner.api, decision_id, "down", comment="wrong")["rating"] == "down"
    assert rate(owner.api, decision_id, "up")["rating"] == "up"
    feedback = Feedback.objects.get()
    assert feedback.rating == 1 and feedback.comment == "" and str(feedback.decision_id) == decision_id


def test_it_hides_other_cohorts_decisions(provider, owner, outsider):
    decision_id = answered(owner.api)["optiroute"]["decision_id"]
    assert rate(outsider.api, decision_id, "down", status=404)["error"]["type"] == "decision_not_found"
    assert not Feedback.objects.exists()


@pytest.mark.parametrize("body, field", [
    ({"decision_id": "not-a-uuid", "rating": "up"}, "decision_id"),
    ({"decision_id": str(uuid.uuid4()), "rating": "sideways"}, "rating"),
    ({"decision_id": str(uuid.uuid4()), "rating": True}, "rating"),
    ({"decision_id": str(uuid.uuid4())}, "rating"),
    ({"decision_id": str(uuid.uuid4()), "rating": "up", "comment": "x" * 2001}, "comment"),
])
def test_it_refuses_bad_ratings_with_a_400(owner, body, field):
    response = owner.api.post("/api/v1/feedback", body, format="json")
    assert response.status_code == 400 and field in str(response.json()), response.content


def test_it_needs_a_key_and_an_answered_decision(provider, owner):
    assert APIClient().post("/api/v1/feedback", {}, format="json").status_code == 401
    assert rate(owner.api, str(uuid.uuid4()), "up", status=404)["error"]["type"] == "decision_not_found"
    dry_run = owner.api.post("/api/v1/route", {"prompt": "Explain recursion."}, format="json").json()["id"]
    assert rate(owner.api, dry_run, "up", status=409)["error"]["type"] == "not_answered"


def test_folding_turns_ratings_into_evidence_once(provider, owner):
    decision_id = answered(owner.api)["optiroute"]["decision_id"]
    rate(owner.api, decision_id, "down")
    assert feedback_fold() == 1
    assert feedback_fold() == 0  # nothing new
    result = EvaluationResult.objects.get(prompt__dataset__source_format=FIELD_FORMAT)
    assert result.llm.name == "cheap" and result.score == 0.0 and result.prompt.external_id == decision_id
    assert result.prompt.text == ""  # the request's embedding is kept, never its text
    rate(owner.api, decision_id, "up")  # a changed rating is folded again, replacing the outcome
    assert feedback_fold() == 1
    assert EvaluationResult.objects.get(prompt__dataset__source_format=FIELD_FORMAT).score == 1.0


def test_routing_learns_from_thumbs_down(provider, owner):
    first = answered(owner.api)
    assert first["model"] == "cheap"
    for _ in range(5):
        rate(owner.api, answered(owner.api)["optiroute"]["decision_id"], "down")
    feedback_fold()
    snapshots.clear()  # other processes see the new evidence within the snapshot's refresh
    after = answered(owner.api)
    assert after["model"] == "pricey"
    decision = Decision.objects.get(pk=after["optiroute"]["decision_id"])
    cheap = next(c for c in decision.candidates if c["model"] == "cheap")
    assert cheap["evidence_n"] >= 5 and cheap["expected_quality"] < 0.5
