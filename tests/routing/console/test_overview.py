"""The overview: traffic per model and day, spend and savings, budgets, failures, feedback and latency,
each figure linked to the decisions behind it."""

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from feedback.models import Feedback
from registry.models import LLM, Provider
from routing.access.keys import api_key_create
from routing.models import Cohort, Decision, Usage

pytestmark = pytest.mark.django_db


@pytest.fixture
def traffic() -> dict[str, Any]:
    provider = Provider.objects.create(name="acme", kind="openai")
    small, large = (LLM.objects.create(name=name, provider=provider) for name in ("small", "large"))
    search = Cohort.objects.create(name="search", baseline_model=large, monthly_budget_usd=2)
    key, _ = api_key_create(cohort_name="search")
    for n, ms in enumerate([10.0, 20.0, 30.0, 40.0]):
        decision = Decision.objects.create(cohort=search, chosen_model=small, answered_by=small, mode="chat",
                                           strategy="knn", timings={"total": ms}, analysis={"task_type": "qa"})
        Usage.objects.create(decision=decision, cohort=search, llm=small, cost_usd=0.25, baseline_cost_usd=1.0,
                             saving_usd=0.75)
        Feedback.objects.create(decision=decision, api_key=key, rating=1 if n else -1)
    Decision.objects.create(cohort=search, chosen_model=large, answered_by=small, mode="chat", strategy="knn",
                            fallback_reason="large failed", attempts=[{"model": "large", "outcome": "error"}])
    old = Decision.objects.create(cohort=search, chosen_model=large, strategy="knn")
    Decision.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=40))
    return {"search": search}


def test_it_sums_up_the_range(client: Any, engineer: Any, traffic: dict[str, Any]) -> None:
    response = client.get("/console/overview/")
    o = response.context["o"]
    assert response.status_code == 200
    assert o.totals["decisions"] == 5 and o.totals["answered"] == 4
    assert o.totals["spent"] == 1.0 and o.totals["saved"] == 3.0
    assert o.totals["fallbacks"] == 1 and o.totals["provider_errors"] == 1
    assert o.totals["p50_ms"] == 25.0
    assert o.decisions_per_day == {"small": {timezone.localdate(): 4}, "large": {timezone.localdate(): 1}}
    search = next(row for row in o.cohorts if row["cohort"].name == "search")
    assert search["month_spent"] == 1.0 and search["budget_share"] == 0.5
    assert o.feedback == [{"model": "small", "task_type": "qa", "up": 3, "rated": 4, "rate": 0.75}]
    page = response.content.decode()
    assert "<svg" in page and 'class="s1"' in page and "$1.00 of $2.00" in page and "75%" in page


def test_each_figure_links_to_its_decisions(client: Any, engineer: Any, traffic: dict[str, Any]) -> None:
    page = client.get("/console/overview/", {"cohort": "search"}).content.decode()
    today = timezone.localdate().isoformat()
    q = f"since={(timezone.localdate() - dt.timedelta(days=13)).isoformat()}&amp;until={today}&amp;cohort=search"
    assert f"/console/decisions/?{q}&amp;fallback=error" in page
    listed = client.get(f"/console/decisions/?{q.replace('&amp;', '&')}&fallback=error").context["page"]
    assert [d.fallback_reason for d in listed] == ["large failed"]
    assert f"/console/decisions/?{q}&amp;model=small" in page


def test_it_narrows_to_a_range(client: Any, engineer: Any, traffic: dict[str, Any]) -> None:
    since = (timezone.localdate() - dt.timedelta(days=45)).isoformat()
    until = (timezone.localdate() - dt.timedelta(days=30)).isoformat()
    o = client.get("/console/overview/", {"since": since, "until": until}).context["o"]
    assert o.totals["decisions"] == 1 and o.totals["answered"] == 0


def test_it_says_what_is_wrong_with_a_range(client: Any, engineer: Any) -> None:
    response = client.get("/console/overview/", {"since": "2026-03-01", "until": "2026-01-01"})
    assert response.status_code == 400 and "end date is before the start date" in response.content.decode()


def test_the_range_inputs_show_the_range_shown(client: Any, engineer: Any) -> None:
    today = timezone.localdate()

    page = client.get("/console/overview/").content.decode()

    assert f'name="until" value="{today:%Y-%m-%d}"' in page
    assert f'name="since" value="{today - dt.timedelta(days=13):%Y-%m-%d}"' in page


def test_it_charts_answered_calls_per_day_by_answering_model(client: Any, engineer: Any,
                                                            traffic: dict[str, Any]) -> None:
    response = client.get("/console/overview/")

    # Answered calls are the usage rows, by the model that answered: four, all by small.
    assert response.context["o"].answered_per_day == {"small": {timezone.localdate(): 4}}
    page = response.content.decode()
    assert "Answered calls per day, by model" in page and f"small: 4 on {timezone.localdate():%b %d}" in page
    assert "&amp;model=small&amp;mode=chat" in page


def test_money_figures_link_to_the_calls_behind_them(client: Any, engineer: Any, traffic: dict[str, Any]) -> None:
    page = client.get("/console/overview/").content.decode()
    today = timezone.localdate()
    since = f"since={today - dt.timedelta(days=13):%Y-%m-%d}&amp;until={today:%Y-%m-%d}"

    assert f'<a href="/console/decisions/?{since}&amp;model=small&amp;mode=chat">$1.00</a>' in page
    assert f'<a href="/console/decisions/?{since}&amp;cohort=search&amp;mode=chat">$4.00</a>' in page  # baseline
