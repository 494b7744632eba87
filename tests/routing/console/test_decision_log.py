"""The decision log: filters, pages past the latest 100, CSV export, and a decision page that explains."""

import csv
import datetime as dt
import io
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
    search, support = Cohort.objects.create(name="search"), Cohort.objects.create(name="support")
    key, _ = api_key_create(cohort_name="search")
    rated_up = Decision.objects.create(cohort=search, chosen_model=small, answered_by=small, profile="balanced",
                                       mode="chat", strategy="knn", explanation="small is cheapest for chit-chat",
                                       timings={"analysis": 3.2, "total": 1234.0},
                                       candidates=[{"model": "small", "utility": 0.812345, "expected_quality": 0.7,
                                                    "quality_confidence": 0.9, "evidence_n": 12, "prior": 0.6,
                                                    "prior_source": "benchmarks", "expected_cost_usd": 0.0036000000001,
                                                    "expected_latency_ms": 1200.0}])
    Usage.objects.create(decision=rated_up, cohort=search, llm=small, cost_usd=0.0000036000000000000003)
    Feedback.objects.create(decision=rated_up, api_key=key, rating=1, comment="spot on")
    fell_back = Decision.objects.create(cohort=support, chosen_model=large, answered_by=small, profile="quality-first",
                                        mode="chat", strategy="knn", fallback_reason="large timed out")
    Feedback.objects.create(decision=fell_back, api_key=key, rating=-1)
    dry = Decision.objects.create(cohort=search, chosen_model=large, profile="balanced", mode="dry_run", strategy="knn")
    Decision.objects.filter(pk=dry.pk).update(created_at=timezone.now() - dt.timedelta(days=10))
    return {"up": rated_up, "fallback": fell_back, "dry": dry}


def listed(client: Any, **filters: str) -> set[Any]:
    response = client.get("/console/decisions/", filters)
    assert response.status_code == 200
    return {d.pk for d in response.context["page"]}


def test_it_filters_by_every_field(client: Any, engineer: Any, traffic: dict[str, Any]) -> None:
    up, fallback, dry = traffic["up"].pk, traffic["fallback"].pk, traffic["dry"].pk
    assert listed(client) == {up, fallback, dry}
    assert listed(client, cohort="support") == {fallback}
    assert listed(client, model="small") == {up, fallback}  # chose or answered
    assert listed(client, profile="balanced") == {up, dry}
    assert listed(client, mode="dry_run") == {dry}
    assert listed(client, fallback="yes") == {fallback}
    assert listed(client, fallback="no") == {up, dry}
    assert listed(client, feedback="up") == {up}
    assert listed(client, feedback="down") == {fallback}
    assert listed(client, feedback="none") == {dry}
    today = timezone.localdate().isoformat()
    assert listed(client, since=today) == {up, fallback}
    assert listed(client, until=(timezone.localdate() - dt.timedelta(days=5)).isoformat()) == {dry}


def test_it_says_when_a_date_range_is_backwards(client: Any, engineer: Any) -> None:
    response = client.get("/console/decisions/", {"since": "2026-02-01", "until": "2026-01-01"})
    assert response.status_code == 400 and "end date is before the start date" in response.content.decode()


def test_it_pages_past_the_latest_hundred(client: Any, engineer: Any) -> None:
    Decision.objects.bulk_create(Decision(strategy="knn") for _ in range(130))
    pages = [client.get("/console/decisions/", {"page": n}).context["page"] for n in (1, 2, 3)]
    assert [len(page) for page in pages] == [50, 50, 30]
    assert len({d.pk for page in pages for d in page}) == 130


def test_it_exports_the_filtered_rows(client: Any, engineer: Any, traffic: dict[str, Any]) -> None:
    response = client.get("/console/decisions.csv", {"cohort": "search"})
    assert response["Content-Type"] == "text/csv" and "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {row["id"] for row in rows} == {str(traffic["up"].pk), str(traffic["dry"].pk)}
    up = next(row for row in rows if row["id"] == str(traffic["up"].pk))
    assert up["rated_up"] == "1" and up["answered_by"] == "small" and up["routing_ms"] == "1234.0"


def test_the_decision_page_explains_with_money_times_and_feedback(client: Any, engineer: Any,
                                                                  traffic: dict[str, Any]) -> None:
    page = client.get(f"/console/decisions/{traffic['up'].pk}/").content.decode()
    assert "Routed to small" in page and "small is cheapest for chit-chat" in page
    assert "$0.0036" in page and "$0.0000036" in page and "0.0036000000001" not in page
    assert "1.2 s" in page and "3.2 ms" in page and "0.812" in page
    assert "rated up" in page and "spot on" in page
    assert "Decision object" not in page and "{&#x27;" not in page


def test_a_decision_names_itself_in_lists(traffic: dict[str, Any]) -> None:
    assert "Decision object" not in str(traffic["up"]) and "small" in str(traffic["up"])


def test_the_decision_page_states_weights_and_constraints_in_words(client: Any, engineer: Any,
                                                                   traffic: dict[str, Any]) -> None:
    decision = traffic["up"]
    decision.weights = {"cost": 0.4, "accuracy": 0.6, "creativity": 0.0}
    decision.constraints = {"denied_models": ["large", "huge"], "max_cost_usd": 0.01, "max_latency_ms": 2500.0,
                            "local_only": True}
    decision.save()

    page = client.get(f"/console/decisions/{decision.pk}/").content.decode()

    assert page.index("accuracy 0.60") < page.index("cost 0.40") and "creativity" not in page
    assert "never large, huge" in page and "at most $0.01 a call" in page and "answers within 2.5 s" in page
    assert "local models only" in page and "[&#x27;large" not in page and "max_cost_usd" not in page
