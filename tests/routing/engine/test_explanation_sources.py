"""Explanations say where each figure came from: a published source with its date, or that none is published."""

import re

import pytest
from django.core.management import call_command

from routing.access.keys import api_key_create
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db
PROMPT = "Summarise the main causes of the French Revolution in three sentences."


def route(pool, **weights):
    call_command("import_models")
    api = bearer_client(api_key_create(cohort_name=None)[1])
    response = api.post("/api/v1/route", {"prompt": PROMPT, "preferences": weights,
                                          "constraints": {"allowed_models": pool}}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["explanation"]


def test_it_names_the_published_source_and_date_of_a_weighted_figure():
    text = route(["gpt-4o-mini"], honesty=1.0, helpfulness=0.5)
    assert "honesty 0.97 (Vectara HHEM hallucination leaderboard, 2025-12-09)" in text
    assert "helpfulness 0.51 (AlpacaEval 2.0 length-controlled win rate, 2024-12-27)" in text


def test_it_says_when_no_figure_is_published():
    text = route(["mistral-large-2411"], honesty=1.0, creativity=1.0)
    missing = text.split("No published figure for ")[1].split(": scored neutrally")[0].split(", ")
    assert {"honesty", "creativity"} <= set(missing) and "Published figures" not in text


def test_it_says_where_the_latency_figure_came_from():
    assert "expected latency" in (text := route(["gpt-4o-mini"], latency=1.0)) and "declared:" in text


def test_it_gives_cost_and_latency_as_people_read_them():
    text = route(["deepseek-reasoner"], latency=1.0)  # seconds: a 3 s median, then its answer's tokens
    latency = text.split("expected latency ")[1].split(" (")[0]
    cost = text.split("expected cost ")[1].split(",")[0]
    # "11.5 s", never "11500 ms"; two significant digits, "$0.0012", never "$0.001234".
    assert re.fullmatch(r"\d+\.\d s", latency), latency
    assert re.fullmatch(r"\$0\.0*[1-9]\d?|\$\d+\.\d\d", cost), cost


def test_a_missing_figure_scores_the_candidates_mean_neither_a_penalty_nor_a_reward():
    call_command("import_models")
    api = bearer_client(api_key_create(cohort_name=None)[1])
    body = {"prompt": PROMPT, "preferences": {"honesty": 1.0},
            "constraints": {"allowed_models": ["gpt-4o", "gpt-4o-mini", "llama-3.1-405b-instruct"]}}
    candidates = api.post("/api/v1/route", body, format="json").json()["candidates"]
    honesty = {c["model"]: c["scores"]["honesty"] for c in candidates}
    assert honesty["gpt-4o"] == pytest.approx((0.967 + 0.971) / 2, abs=1e-3)  # gpt-4o has no published figure
