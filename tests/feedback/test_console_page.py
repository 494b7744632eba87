"""The staff page of what feedback changed: per model and task type the estimate before and after,
the ratings with their comments, and a reset that undoes them."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from feedback.models import Feedback
from feedback.services import feedback_fold
from registry.models import LLM
from routing.access.keys import api_key_create
from routing.models import Decision
from tests.conftest import bearer_client
from tests.feedback.test_feedback import answered, rate

pytestmark = pytest.mark.django_db


@pytest.fixture
def rated(cheap_and_pricey):
    owner = bearer_client(api_key_create(cohort_name=None)[1])
    for _ in range(2):
        rate(owner, answered(owner)["optiroute"]["decision_id"], "down", comment="made up a function")
    feedback_fold()


def test_staff_see_what_feedback_changed_and_can_reset_it(rated, client):
    client.force_login(get_user_model().objects.create_user("staff", password="pw-staff-123", is_staff=True))
    page = client.get("/feedback/").content.decode()
    assert "cheap" in page and "made up a function" in page and "2 (2)" in page
    response = client.post("/feedback/reset/", {"llm_id": LLM.objects.get(name="cheap").pk, "task_type": ""})
    assert response.status_code == 302
    assert "2 (0)" in client.get("/feedback/").content.decode()
    assert Feedback.objects.filter(reset_at__isnull=False).count() == 2


def test_others_cannot_see_or_reset_it(rated, client):
    client.force_login(get_user_model().objects.create_user("ada", password="pw-ada-123"))
    assert client.get("/feedback/").status_code == 302
    assert client.post("/feedback/reset/", {"llm_id": LLM.objects.get(name="cheap").pk}).status_code == 302
    assert not Feedback.objects.filter(reset_at__isnull=False).exists()


def test_a_reset_of_an_unknown_model_is_a_404(rated, client):
    client.force_login(get_user_model().objects.create_user("staff", password="pw-staff-123", is_staff=True))
    assert client.post("/feedback/reset/", {"llm_id": "999999"}).status_code == 404
    assert client.post("/feedback/reset/", {"llm_id": "x"}).status_code == 404


def test_staff_see_the_share_of_live_traffic_that_explored_over_a_time_range(cheap_and_pricey, staff):
    owner = bearer_client(api_key_create(cohort_name=None)[1])
    ids = [answered(owner)["optiroute"]["decision_id"] for _ in range(4)]
    Decision.objects.filter(pk=ids[0]).update(explored=True)
    Decision.objects.filter(pk=ids[1]).update(explored=True, created_at=timezone.now() - timedelta(days=10))

    assert "1 of 3 answered requests explored (33.3%) in the last 7 days" in staff.client.get(
        "/feedback/").content.decode()
    assert "2 of 4 answered requests explored (50.0%) in the last 30 days" in staff.client.get(
        "/feedback/?days=30").content.decode()
    assert staff.client.get("/feedback/?days=5").status_code == 400
