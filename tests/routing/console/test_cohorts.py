"""Cohorts in the console: a pool from the registry, constraints as fields, a budget, keys shown once."""

from typing import Any

import pytest

from registry.models import LLM, Provider
from routing.models import ApiKey, Cohort, PreferenceProfile, Usage
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def models() -> dict[str, LLM]:
    provider = Provider.objects.create(name="acme", kind="openai", api_key_env="ACME_KEY")
    return {name: LLM.objects.create(name=name, provider=provider, license=license, is_active=active)
            for name, license, active in [("small", "apache-2.0", True), ("large", "proprietary", True),
                                          ("retired", "mit", False)]}


def cohort_form(models: dict[str, LLM], **overrides: Any) -> dict[str, Any]:
    data = {"name": "search", "allowed_models": [models["small"].pk, models["large"].pk],
            "baseline_model": models["large"].pk, "monthly_budget_usd": "25", "max_cost_usd": "0.01",
            "licenses": ["apache-2.0"], "local_only": ""}
    return data | overrides


def test_it_creates_a_cohort_from_form_fields(client: Any, engineer: Any, models: dict[str, LLM]) -> None:
    profile = PreferenceProfile.objects.create(name="cheap", weights={"cost": 1.0})
    response = client.post("/console/cohorts/new/", cohort_form(models, default_profile=profile.pk, members=[engineer.pk]))
    cohort = Cohort.objects.get(name="search")
    assert response.status_code == 302 and response["Location"] == f"/console/cohorts/{cohort.pk}/"
    assert set(cohort.allowed_models.values_list("name", flat=True)) == {"small", "large"}
    assert cohort.constraints == {"max_cost_usd": 0.01, "licenses": ["apache-2.0"]}
    assert cohort.baseline_model == models["large"] and cohort.default_profile == profile
    assert str(cohort.monthly_budget_usd) == "25.000000" and list(cohort.members.all()) == [engineer]
    page = client.get(response["Location"]).content.decode()
    assert "within 5 s" in page and 'value="0.01"' in page


def test_it_shows_spend_to_date_as_money(client: Any, engineer: Any, models: dict[str, LLM]) -> None:
    cohort = Cohort.objects.create(name="search", monthly_budget_usd=25)
    from routing.models import Decision

    decision = Decision.objects.create(cohort=cohort, strategy="knn")
    Usage.objects.create(decision=decision, cohort=cohort, cost_usd=0.0000036000000000000003)
    page = client.get(f"/console/cohorts/{cohort.pk}/").content.decode()
    assert "$0.0000036" in page and "0.0000036000000000000003" not in page and "$25.00" in page
    assert "$0.0000036" in client.get("/console/cohorts/").content.decode()


def test_it_refuses_a_pool_with_nothing_active(client: Any, engineer: Any, models: dict[str, LLM]) -> None:
    response = client.post("/console/cohorts/new/", cohort_form(
        models, allowed_models=[models["retired"].pk], baseline_model=""))
    assert response.status_code == 400 and "No model in this pool is active" in response.content.decode()
    assert not Cohort.objects.filter(name="search").exists()


def test_it_refuses_a_baseline_outside_the_pool(client: Any, engineer: Any, models: dict[str, LLM]) -> None:
    cohort = Cohort.objects.create(name="search")
    response = client.post(f"/console/cohorts/{cohort.pk}/", cohort_form(
        models, allowed_models=[models["small"].pk], baseline_model=models["large"].pk))
    assert response.status_code == 400 and "large is not in the model pool" in response.content.decode()
    assert cohort.allowed_models.count() == 0


def test_it_says_which_constraint_is_wrong(client: Any, engineer: Any, models: dict[str, LLM]) -> None:
    response = client.post("/console/cohorts/new/", cohort_form(models, max_cost_usd="-1", min_context_window="0"))
    page = response.content.decode()
    assert response.status_code == 400 and "greater than or equal to 0" in page and "greater than or equal to 1" in page


def test_it_keeps_constraints_the_form_does_not_edit(client: Any, engineer: Any, models: dict[str, LLM]) -> None:
    cohort = Cohort.objects.create(name="search", constraints={"allowed_models": ["small"], "local_only": True})
    client.post(f"/console/cohorts/{cohort.pk}/", cohort_form(models, max_cost_usd="", licenses=[]))
    cohort.refresh_from_db()
    assert cohort.constraints == {"allowed_models": ["small"]}


def test_a_key_is_shown_once_and_revoking_it_shuts_the_api(client: Any, engineer: Any) -> None:
    cohort = Cohort.objects.create(name="search")
    response = client.post(f"/console/cohorts/{cohort.pk}/keys/", {"label": "staging"})
    key = ApiKey.objects.get(cohort=cohort)
    raw = response.context["new_raw_key"]
    assert response.status_code == 201 and raw in response.content.decode() and key.label == "staging"
    assert raw not in client.get(f"/console/cohorts/{cohort.pk}/").content.decode()
    assert bearer_client(raw).get("/v1/models").status_code == 200

    revoked = client.post(f"/console/keys/{key.pk}/revoke/")
    assert revoked.status_code == 302
    refused = bearer_client(raw).get("/v1/models")
    assert refused.status_code == 401 and refused.json()["error"]["message"]


def test_it_sets_rate_limits_and_prompt_retention(client: Any, engineer: Any, models: dict[str, LLM]) -> None:
    response = client.post("/console/cohorts/new/", cohort_form(
        models, requests_per_minute="120", tokens_per_minute="50000", prompt_retention="hash", retention_days="14"))
    assert response.status_code == 302
    cohort = Cohort.objects.get(name="search")
    assert (cohort.requests_per_minute, cohort.tokens_per_minute) == (120, 50000)
    assert (cohort.prompt_retention, cohort.retention_days) == ("hash", 14)
    refused = client.post("/console/cohorts/new/", cohort_form(models, name="other", requests_per_minute="0",
                                                               prompt_retention="forever"))
    assert refused.status_code == 400 and not Cohort.objects.filter(name="other").exists()
    errors = refused.context["form"].errors
    assert "requests_per_minute" in errors and "prompt_retention" in errors


def test_a_key_gets_its_own_rate_limit_or_a_clear_refusal(client: Any, engineer: Any) -> None:
    cohort = Cohort.objects.create(name="search")
    created = client.post(f"/console/cohorts/{cohort.pk}/keys/", {"label": "batch jobs", "requests_per_minute": "30"})
    assert created.status_code == 201
    assert ApiKey.objects.get(cohort=cohort).requests_per_minute == 30
    refused = client.post(f"/console/cohorts/{cohort.pk}/keys/", {"label": "x", "tokens_per_minute": "-5"})
    assert refused.status_code == 400 and "Tokens_per_minute" in refused.content.decode()
    assert ApiKey.objects.filter(cohort=cohort).count() == 1
