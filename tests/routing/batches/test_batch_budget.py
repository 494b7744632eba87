"""A batch that would break its total budget, or its cohort's monthly budget, stops before it does."""

import pytest

from routing.models import Usage
from tests.routing.batches.conftest import ANSWER_COST, requests_for, wait_for


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_stops_before_its_total_budget_and_resumes_with_a_higher_one(celery_worker, provider, api):
    budget = 5.5 * ANSWER_COST
    batch_id = api.post("/api/v1/batches", {"model": "cheap", "requests": requests_for(40), "auto_run": True,
                                            "max_tokens": 6, "budget_usd": budget}, format="json").json()["id"]
    stopped = wait_for(api, batch_id, "stopped", "succeeded", "failed")
    assert stopped["status"] == "stopped" and "budget" in stopped["error"], stopped
    assert 1 <= stopped["done"] < 40 and stopped["remaining"] == 40 - stopped["done"]
    assert stopped["cost_usd"] <= budget  # stopped before, not after, going over
    assert Usage.objects.count() == stopped["done"]

    resumed = api.post(f"/api/v1/batches/{batch_id}/resume", {"budget_usd": 1.0}, format="json")
    assert resumed.status_code == 200 and resumed.json()["error"] is None
    done = wait_for(api, batch_id, "succeeded", "failed")
    assert (done["status"], done["done"]) == ("succeeded", 40)
    assert Usage.objects.count() == 40


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_stops_before_the_cohorts_monthly_budget(celery_worker, provider, api, key):
    cohort = key[0].cohort
    cohort.monthly_budget_usd = "0.000009"  # five answers of 18 tokens at $0.1 per million
    cohort.save()
    batch_id = api.post("/api/v1/batches", {"model": "cheap", "requests": requests_for(30), "auto_run": True,
                                            "max_tokens": 6}, format="json").json()["id"]
    stopped = wait_for(api, batch_id, "stopped", "succeeded", "failed")
    assert stopped["status"] == "stopped" and "monthly budget" in stopped["error"], stopped
    assert cohort.name in stopped["error"]
    assert 1 <= stopped["done"] <= 5 and Usage.objects.filter(cohort=cohort).spent_usd() <= 0.000009


@pytest.mark.django_db
def test_a_negative_budget_is_refused(provider, api):
    response = api.post("/api/v1/batches", {"model": "cheap", "requests": requests_for(2), "budget_usd": -1},
                        format="json")
    assert response.status_code == 400 and "budget_usd" in str(response.json())
