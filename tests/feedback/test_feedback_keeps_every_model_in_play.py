"""Feedback speaks only of the models routing chose. It adds to a model's record; it never makes
the models nobody rated look unevaluated for a kind of request, which would hand that kind of
request to the first models chosen for it for good (the feedback replay on LLMRouter lost AIQ
round after round that way)."""

import pytest

from feedback.services import feedback_fold
from routing.engine.snapshot import snapshots
from routing.models import Decision
from tests.feedback.test_feedback import rate

pytestmark = pytest.mark.django_db
# A request the analyzer files under one task type with confidence: the task filter applies.
MATH = [{"role": "user", "content": "Solve for x: 3x + 7 = 22."}]


def answered(client):
    response = client.post("/v1/chat/completions", {"model": "optiroute/quality-first", "messages": MATH},
                           format="json")
    assert response.status_code == 200, response.content
    return response.json()


def routed_models(client):
    decision = Decision.objects.get(pk=answered(client)["optiroute"]["decision_id"])
    return decision, {c["model"] for c in decision.candidates}


def test_ratings_of_one_model_leave_the_others_among_the_candidates(cheap_and_pricey, owner):
    first, before = routed_models(owner.api)
    assert before == {"cheap", "pricey"}
    assert first.analysis["task_confidence"] >= 0.5, "the task filter applies to confident task types only"
    for _ in range(3):
        rate(owner.api, answered(owner.api)["optiroute"]["decision_id"], "up")
    feedback_fold()
    snapshots.clear()

    later, after = routed_models(owner.api)

    assert after == {"cheap", "pricey"}
    assert not any("kept 1 of 2" in note for note in later.filters)
    rated = next(c for c in later.candidates if c["model"] == first.answered_by.name)
    assert rated["feedback_prior_n"] == 3


def test_a_model_no_evaluation_measured_takes_its_record_from_feedback(cheap_and_pricey, owner):
    first, _ = routed_models(owner.api)
    name = first.answered_by.name
    published = next(c for c in first.candidates if c["model"] == name)["prior"]
    for _ in range(2):
        rate(owner.api, answered(owner.api)["optiroute"]["decision_id"], "down")
    feedback_fold()
    snapshots.clear()

    later, _ = routed_models(owner.api)

    rated = next(c for c in later.candidates if c["model"] == name)
    unrated = next(c for c in later.candidates if c["model"] != name)
    assert rated["prior"] < published
    assert unrated["prior"] == pytest.approx(published)
