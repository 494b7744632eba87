"""Cohort constraints and profile weights: refused when saved (model, admin, API), and a value
stored before it was validated fails its own calls with a clear error, never every call with a 500."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from routing.access.keys import api_key_create
from routing.models import Cohort, PreferenceProfile
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db
PROMPT = "Write a Python function that returns the n-th Fibonacci number."


@pytest.fixture
def catalog():
    call_command("import_models")


def problems(error: ValidationError) -> str:
    return " | ".join(message for messages in error.value.message_dict.values() for message in messages)


@pytest.mark.parametrize("constraints,named", [
    ({"max_cost_usd": "cheap", "colour": "blue"}, ['max_cost_usd must be a number >= 0, not "cheap"',
                                                   'unknown constraint "colour"']),
    ({"max_latency_ms": -1}, ["max_latency_ms must be a number >= 0, not -1"]),
    ({"max_cost_usd": True}, ["max_cost_usd must be a number >= 0, not true"]),
    ({"min_context_window": 0}, ["min_context_window must be a whole number >= 1, not 0"]),
    ({"min_context_window": 1.5}, ["min_context_window must be a whole number >= 1, not 1.5"]),
    ({"allowed_models": "gpt-4o"}, ['allowed_models must be a list of model names, not "gpt-4o"']),
    ({"denied_models": ["gpt-4o", 4]}, ['denied_models must be a list of model names, not ["gpt-4o", 4]']),
    ({"licenses": [""]}, ["licenses must be a list of license names"]),
    ({"local_only": "yes"}, ['local_only must be true or false, not "yes"']),
    (["max_cost_usd", 1], ["constraints must be a JSON object"]),
])
def test_it_refuses_unknown_or_mistyped_constraints_on_the_model(constraints, named):
    cohort = Cohort(name="research", constraints=constraints)
    with pytest.raises(ValidationError) as error:
        cohort.full_clean()
    assert set(error.value.message_dict) == {"constraints"}
    for text in named:
        assert text in problems(error)


def test_it_accepts_every_kind_of_valid_constraint():
    Cohort(name="research", constraints={
        "max_cost_usd": 0.01, "max_latency_ms": 3000, "min_context_window": 32000, "allowed_models": ["gpt-4o"],
        "denied_models": [], "licenses": ["apache-2.0", "mit"], "local_only": False}).full_clean()
    Cohort(name="open", constraints={}).full_clean()


@pytest.mark.parametrize("weights,named", [
    ({"cost": 5, "speediness": 1}, ["cost must be a number from 0 to 1, not 5", 'unknown slider "speediness"']),
    ({"accuracy": "high"}, ['accuracy must be a number from 0 to 1, not "high"']),
    ({"accuracy": True}, ["accuracy must be a number from 0 to 1, not true"]),
    ({"accuracy": -0.1, "cost": 1}, ["accuracy must be a number from 0 to 1, not -0.1"]),
    ({"accuracy": 0, "cost": 0.0}, ["at least one slider must be above 0"]),
    ([0.5, 0.5], ["weights must be a JSON object of sliders"]),
])
def test_it_refuses_unknown_sliders_and_weights_outside_0_to_1(weights, named):
    with pytest.raises(ValidationError) as error:
        PreferenceProfile(name="custom", weights=weights).full_clean()
    assert set(error.value.message_dict) == {"weights"}
    for text in named:
        assert text in problems(error)


def test_the_built_in_profiles_are_valid():
    profiles = list(PreferenceProfile.objects.all())
    assert {"balanced", "quality-first", "cost-effective"} <= {profile.name for profile in profiles}
    for profile in profiles:
        profile.full_clean()


def test_the_admin_shows_the_error_and_saves_nothing(staff):
    cohort = Cohort.objects.create(name="research", constraints={"max_cost_usd": 0.01})
    response = staff.client.post(f"/admin/routing/cohort/{cohort.pk}/change/", {
        "name": "research", "constraints": '{"max_cost_usd": "cheap", "colour": "blue"}', "_save": "Save"})
    assert response.status_code == 200  # the form again, not a redirect
    page = response.content.decode()
    assert "max_cost_usd must be a number &gt;= 0, not &quot;cheap&quot;" in page
    assert "unknown constraint &quot;colour&quot;" in page
    cohort.refresh_from_db()
    assert cohort.constraints == {"max_cost_usd": 0.01}

    profile = PreferenceProfile.objects.get(name="balanced")
    response = staff.client.post(f"/admin/routing/preferenceprofile/{profile.pk}/change/", {
        "name": "balanced", "description": "", "weights": '{"cost": 5, "speediness": 1}', "_save": "Save"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "cost must be a number from 0 to 1, not 5" in page and "unknown slider &quot;speediness&quot;" in page
    profile.refresh_from_db()
    assert profile.weights["cost"] == 0.4 and "speediness" not in profile.weights


def test_the_admin_saves_valid_constraints(staff):
    cohort = Cohort.objects.create(name="research")
    response = staff.client.post(f"/admin/routing/cohort/{cohort.pk}/change/", {
        "name": "research", "constraints": '{"max_cost_usd": 0.5, "licenses": ["mit"]}',
        "prompt_retention": "keep", "retention_days": "30", "_save": "Save"})  # as the form shows them
    assert response.status_code == 302
    cohort.refresh_from_db()
    assert cohort.constraints == {"max_cost_usd": 0.5, "licenses": ["mit"]}


def test_the_api_refuses_the_same_constraints_in_a_request(catalog):
    api = bearer_client(api_key_create(cohort_name=None)[1])
    response = api.post("/api/v1/route", {"prompt": PROMPT, "constraints": {"colour": "blue"}}, format="json")
    assert response.status_code == 400
    assert "colour" in response.json()["error"]["message"]


def test_constraints_stored_before_validation_fail_that_cohort_clearly(catalog, owner, outsider):
    # .update() bypasses validation, as rows saved before it existed did.
    Cohort.objects.filter(pk=owner.cohort.pk).update(constraints={"max_cost_usd": "cheap", "colour": "blue"})
    messages = [{"role": "user", "content": PROMPT}]
    for path, body in [("/api/v1/route", {"prompt": PROMPT}),
                       ("/v1/chat/completions", {"model": "optiroute/auto", "messages": messages}),
                       ("/v1/chat/completions", {"model": "gpt-4o", "messages": messages})]:  # named: no routing
        response = owner.api.post(path, body, format="json")
        assert response.status_code == 503, response.content
        error = response.json()["error"]
        assert error["code"] == "cohort_misconfigured"
        assert f"cohort {owner.cohort.name}" in error["message"]
        assert 'max_cost_usd must be a number >= 0, not "cheap"' in error["message"]
        assert 'unknown constraint "colour"' in error["message"]
    assert outsider.api.post("/api/v1/route", {"prompt": PROMPT}, format="json").status_code == 200


def test_a_profile_stored_before_validation_fails_only_calls_that_use_it(catalog):
    PreferenceProfile.objects.filter(name="quality-first").update(weights={"accuracy": "high", "speediness": 1})
    api = bearer_client(api_key_create(cohort_name=None)[1])
    response = api.post("/api/v1/route", {"prompt": PROMPT, "profile": "quality-first"}, format="json")
    assert response.status_code == 503, response.content
    error = response.json()["error"]
    assert error["code"] == "profile_misconfigured"
    assert "profile quality-first" in error["message"] and 'unknown slider "speediness"' in error["message"]
    assert 'accuracy must be a number from 0 to 1, not "high"' in error["message"]
    assert api.post("/api/v1/route", {"prompt": PROMPT, "profile": "balanced"}, format="json").status_code == 200
