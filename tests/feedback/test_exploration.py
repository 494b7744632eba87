"""Exploration tries models routing would not have chosen, but never one outside the cohort's pool
or over a hard constraint such as the budget, never where disallowed, and records that it did."""

import random

import pytest

from registry.models import LLM
from routing.access.keys import api_key_create
from routing.engine.exploration import exploration_share, explore
from routing.engine.request import Candidate
from routing.models import Cohort, Decision
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db
QUESTION = [{"role": "user", "content": "Explain recursion with a short Python example."}]


@pytest.fixture
def exploring(cheap_and_pricey, settings):
    settings.EXPLORATION_SHARE = 1.0  # every request draws (the setting itself allows at most 0.5)
    cheap = LLM.objects.get(name="cheap")
    cheap.pk, cheap.name = None, "thrifty"  # a third model, as cheap as "cheap"
    cheap.save()
    return settings


def chosen(client, **optiroute):
    body = {"model": "optiroute/balanced", "messages": QUESTION, "optiroute": optiroute}
    response = client.post("/v1/chat/completions", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()["model"]


def test_it_never_leaves_the_pool(exploring):
    Cohort.objects.create(name="narrow").allowed_models.add(*LLM.objects.filter(name__in=["pricey", "thrifty"]))
    client = bearer_client(api_key_create(cohort_name="narrow")[1])
    assert {chosen(client) for _ in range(8)} <= {"pricey", "thrifty"}


def test_it_never_goes_over_the_budget(exploring):
    client = bearer_client(api_key_create(cohort_name=None)[1])
    assert {chosen(client, constraints={"max_cost_usd": 0.00005}) for _ in range(8)} <= {"cheap", "thrifty"}


def candidate(name, quality, n):
    return Candidate(llm=LLM(id=hash(name) % 1000, name=name), quality=quality, confidence=1.0, evidence_n=n,
                     prior=quality, prior_source="", cost_usd=0.001, typical_cost_usd=0.001, latency_ms=100.0,
                     declared={})


def test_it_tries_an_uncertain_model_now_and_then_and_says_so():
    known, unknown = candidate("known", 0.7, 200), candidate("unknown", 0.6, 1)
    rng = random.Random(7)
    runs = [explore([known, unknown], {"accuracy": 1.0}, share=0.5, rng=rng) for _ in range(400)]
    explored = [ranking[0].llm.name for ranking, did in runs if did]
    assert set(explored) == {"unknown"} and 0 < len(explored) < 200  # within the share
    assert all(ranking[0] is known for ranking, did in runs if not did)


def test_it_is_off_where_disallowed(exploring):
    cohort = Cohort.objects.create(name="careful", allows_exploration=False)
    assert exploration_share(cohort=cohort, profile="balanced", mode=Decision.Mode.CHAT) == 0.0
    assert exploration_share(cohort=None, profile="quality-first", mode=Decision.Mode.CHAT) == 0.0
    assert exploration_share(cohort=None, profile="balanced", mode=Decision.Mode.DRY_RUN) == 0.0
    assert exploration_share(cohort=None, profile="balanced", mode=Decision.Mode.CHAT) == 1.0
