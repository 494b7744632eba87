"""Each decision records what feedback contributed to its estimates (rated answers among the
neighbours and in the model's task-level record), and its page shows it with whether it explored."""

import pytest

from feedback.services import feedback_fold
from routing.engine.snapshot import snapshots
from routing.models import Decision
from tests.feedback.test_feedback import answered, rate

pytestmark = pytest.mark.django_db


def candidate(decision, name):
    return next(c for c in decision.candidates if c["model"] == name)


def test_a_decision_records_what_feedback_contributed(cheap_and_pricey, owner):
    first = Decision.objects.get(pk=answered(owner.api)["optiroute"]["decision_id"])
    assert candidate(first, first.answered_by.name)["feedback_n"] == 0
    assert "Feedback contributed" not in first.explanation
    for _ in range(3):
        rate(owner.api, answered(owner.api)["optiroute"]["decision_id"], "up")
    feedback_fold()
    snapshots.clear()

    later = Decision.objects.get(pk=answered(owner.api)["optiroute"]["decision_id"])

    rated = candidate(later, first.answered_by.name)
    assert rated["feedback_n"] == 3 and rated["feedback_prior_n"] == 3
    # The cohort keeps its feedback to itself, and its own requests' priors read it.
    assert rated["prior"] > candidate(first, first.answered_by.name)["prior"]
    # What a rating of this answer will be compared with: the estimate without feedback.
    assert rated["evaluated_quality"] == pytest.approx(candidate(first, first.answered_by.name)["expected_quality"])
    assert rated["evaluated_quality"] < rated["expected_quality"]
    other = next(c for c in later.candidates if c["model"] != first.answered_by.name)
    assert other["feedback_n"] == 0
    if later.chosen_model_id == first.answered_by_id:
        assert "Feedback contributed 3 rated answers among the similar prompts" in later.explanation


def test_the_decision_page_shows_it_and_whether_it_explored(cheap_and_pricey, owner, staff, settings):
    for _ in range(2):
        rate(owner.api, answered(owner.api)["optiroute"]["decision_id"], "down")
    feedback_fold()
    snapshots.clear()
    settings.EXPLORATION_SHARE = 1.0
    decision = Decision.objects.get(pk=answered(owner.api, model="optiroute/balanced")["optiroute"]["decision_id"])
    Decision.objects.filter(pk=decision.pk).update(explored=True)  # a draw may agree with the expected choice

    page = staff.client.get(f"/console/decisions/{decision.pk}/").content.decode()

    assert "From feedback" in page and "2 nearby · 2 in record" in page and ">explored</span>" in page
