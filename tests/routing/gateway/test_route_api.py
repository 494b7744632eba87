"""POST /api/v1/route: decisions, constraints, profiles, fallbacks, explanations, bad requests."""

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from registry.models import LLM, Provider
from registry.tokens import DEFAULT_OUTPUT_TOKENS
from routing.access.keys import api_key_create
from routing.engine.costs import expected_latency
from routing.models import Decision
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db
CODE_PROMPT = "Write a Python function that returns the n-th Fibonacci number."


@pytest.fixture
def catalog():
    call_command("import_models")


@pytest.fixture
def api(catalog):
    return bearer_client(api_key_create(cohort_name=None, label="test")[1])


def route(api, status=200, **body):
    response = api.post("/api/v1/route", body, format="json")
    assert response.status_code == status, response.content
    return response.json()


def test_it_returns_a_stored_explained_decision(api):
    decision = route(api, prompt=CODE_PROMPT)
    assert decision["model"] == decision["candidates"][0]["model"]
    utilities = [c["utility"] for c in decision["candidates"]]
    assert utilities == sorted(utilities, reverse=True)
    assert decision["explanation"].startswith(f"Chose {decision['model']}")
    assert decision["analysis"]["task_type"] == "code"
    assert set(decision["timings_ms"]) >= {"analysis", "evidence", "scoring", "total"}
    assert decision["versions"]["analyzer"] is not None
    stored = Decision.objects.get(pk=decision["id"])
    assert stored.chosen_model.name == decision["model"] and stored.strategy == "knn"


def test_it_accepts_chat_messages(api):
    decision = route(api, messages=[{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "Translate 'thank you' into German."}])
    assert decision["analysis"]["task_type"] == "translation"


def test_profiles_change_the_choice(api):
    cheap = route(api, prompt=CODE_PROMPT, profile="cost-effective")
    best = route(api, prompt=CODE_PROMPT, profile="quality-first")
    by_name = {c["model"]: c for c in best["candidates"]}
    assert by_name[cheap["model"]]["expected_cost_usd"] < by_name[best["model"]]["expected_cost_usd"]
    assert by_name[best["model"]]["expected_quality"] >= by_name[cheap["model"]]["expected_quality"]


def test_a_single_slider_overrides_the_profile(api):
    overrides = {"cost": 1.0, "accuracy": 0.0, "helpfulness": 0.0, "honesty": 0.0}
    decision = route(api, prompt=CODE_PROMPT, profile="quality-first", preferences=overrides)
    assert decision["weights"]["cost"] == 1.0 and decision["weights"]["accuracy"] == 0.0
    assert decision["weights"]["latency"] == 0.05  # the rest of quality-first stays
    cheapest = min(decision["candidates"], key=lambda c: c["expected_cost_usd"])
    assert decision["model"] == cheapest["model"]


@pytest.mark.parametrize("constraints,check,reason", [
    ({"local_only": True}, lambda m: m.provider.kind == Provider.Kind.LOCAL, "local_only"),
    ({"licenses": ["apache-2.0"]}, lambda m: m.license == "apache-2.0", "license"),
    ({"denied_models": ["gpt-4o", "claude-3-5-sonnet-20241022"]},
     lambda m: m.name not in {"gpt-4o", "claude-3-5-sonnet-20241022"}, "denied_models"),
    ({"allowed_models": ["gpt-4o-mini", "deepseek-chat"]}, lambda m: m.name in {"gpt-4o-mini", "deepseek-chat"},
     "allowed_models"),
    ({"min_context_window": 500000}, lambda m: m.context_window >= 500000, "context window"),
    ({"max_cost_usd": 0.0001}, lambda m: m.estimated_cost_usd(20, 256) <= 0.0001, "max_cost_usd"),
    ({"max_latency_ms": 4000}, lambda m: expected_latency(m, DEFAULT_OUTPUT_TOKENS).ms <= 4000, "max_latency_ms"),
])
def test_hard_constraints_are_never_broken(api, constraints, check, reason):
    decision = route(api, prompt=CODE_PROMPT, profile="quality-first", constraints=constraints)
    assert decision["candidates"]
    for candidate in decision["candidates"]:
        assert check(LLM.objects.get(name=candidate["model"])), candidate["model"]
    # Each constraint must exclude some model of the catalog, or a constraint that stopped working would pass.
    assert any(reason in why for why in decision["excluded"].values()), decision["excluded"]


def test_impossible_constraints_name_what_excluded_which_model(api):
    body = route(api, 422, prompt=CODE_PROMPT, constraints={"local_only": True, "licenses": ["mit"]})
    assert body["error"]["type"] == "no_model_fits"
    excluded = body["error"]["details"]["excluded"]
    assert "license" in excluded["smollm2-135m-instruct"]
    assert "local_only" in excluded["gpt-4o"] or "allowed" in excluded["gpt-4o"] or "license" in excluded["gpt-4o"]


def test_a_cohort_routes_within_its_pool_and_never_sees_other_models(catalog, owner):
    pool = ["gpt-4o-mini", "gpt-4o"]
    owner.cohort.allowed_models.set(LLM.objects.filter(name__in=pool))
    decision = route(owner.api, prompt=CODE_PROMPT, constraints={"max_cost_usd": 0.001})
    named = {c["model"] for c in decision["candidates"]} | set(decision["excluded"])
    assert named == set(pool) and decision["model"] == "gpt-4o-mini"
    assert "max_cost_usd" in decision["excluded"]["gpt-4o"]
    assert LLM.objects.exclude(name__in=pool).filter(is_active=True).exists()


def test_it_falls_back_to_generalists_when_nothing_has_evidence(api):
    provider = Provider.objects.create(name="bare", kind="openai", base_url="http://127.0.0.1:9")
    LLM.objects.create(name="bare-generalist", provider=provider, is_generalist=True)
    LLM.objects.create(name="bare-specialist", provider=provider)
    decision = route(api, prompt=CODE_PROMPT, constraints={"allowed_models": ["bare-generalist", "bare-specialist"]})
    assert decision["model"] == "bare-generalist"
    assert "generalist" in decision["fallback_reason"] and "Fallback" in decision["explanation"]


def test_it_refuses_when_even_generalists_break_a_constraint(api):
    provider = Provider.objects.create(name="bare", kind="openai", base_url="http://127.0.0.1:9")
    LLM.objects.create(name="bare-specialist", provider=provider)
    body = route(api, 422, prompt=CODE_PROMPT, constraints={"allowed_models": ["bare-specialist"]})
    assert "generalist" in body["error"]["message"]


@pytest.mark.parametrize("body,fragment", [
    ({"prompt": CODE_PROMPT, "profile": "no-such-profile"}, "unknown profile"),
    ({"prompt": CODE_PROMPT, "preferences": {"cost": 1.5}}, "cost"),
    ({"prompt": CODE_PROMPT, "preferences": {"cost": -0.1}}, "cost"),
    ({"prompt": CODE_PROMPT, "preferences": {"speed": 0.5}}, "unknown preference"),
    ({"prompt": CODE_PROMPT, "preferences": "fast"}, "preferences"),
    ({"prompt": CODE_PROMPT, "constraints": {"max_cost_usd": "cheap"}}, "max_cost_usd"),
    ({"prompt": CODE_PROMPT, "constraints": {"budget": 1}}, "unknown constraint"),
    ({"prompt": "   "}, "prompt"),
    ({}, "prompt"),
    ({"prompt": 42, "messages": "hi"}, "messages"),
    ({"prompt": CODE_PROMPT, "strategy": "astrology"}, "unknown strategy"),
])
def test_bad_requests_get_a_clear_4xx(api, body, fragment):
    response = api.post("/api/v1/route", body, format="json")
    assert response.status_code == 400, response.content
    assert fragment in response.json()["error"]["message"]


def test_it_needs_a_valid_key(catalog):
    client = APIClient()
    assert client.post("/api/v1/route", {"prompt": "hi"}, format="json").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Bearer or-not-a-real-key")
    assert client.post("/api/v1/route", {"prompt": "hi"}, format="json").status_code == 401


def test_a_revoked_key_is_refused(catalog, revoked_key):
    response = revoked_key.api.post("/api/v1/route", {"prompt": "hi"}, format="json")
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


def test_the_key_is_stored_hashed(catalog):
    key, raw = api_key_create(cohort_name=None)
    assert raw not in (key.hashed, key.hint) and len(key.hashed) == 64


def test_the_schema_documents_the_route_endpoint(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/v1/route" in schema["paths"]


def test_engineers_read_a_decision_and_its_reasons_in_the_console(api, staff, client):
    decision_id = route(api, prompt="Write a SQL query that finds duplicate emails")["id"]
    listing = staff.client.get("/console/decisions/?mode=dry_run").content.decode()
    assert f"/console/decisions/{decision_id}/" in listing
    page = staff.client.get(f"/console/decisions/{decision_id}/").content.decode()
    decision = Decision.objects.get(pk=decision_id)
    assert decision.candidates[0]["model"] in page and "Candidates, best first" in page
    assert decision.explanation.split(":")[0] in page
    assert client.get(f"/console/decisions/{decision_id}/").status_code == 302  # not for anonymous users
