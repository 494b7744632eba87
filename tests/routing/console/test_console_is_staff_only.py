"""Every console page and action, derived from the URL configuration: staff only."""

from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from registry.models import LLM, Dataset, ImportJob, Provider
from routing.access.keys import api_key_create
from routing.models import Batch, Cohort, Decision, EvaluationRun, PreferenceProfile

pytestmark = pytest.mark.django_db


def _routes(patterns: list[Any], prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            found.append((route, pattern))
    return found


def console_routes() -> list[tuple[str, URLPattern]]:
    return [(route, pattern) for route, pattern in _routes(get_resolver().url_patterns) if route.startswith("console/")]


@pytest.fixture
def records() -> dict[str, Any]:
    """One record of each kind a console URL names, by the URL's parameter."""
    provider = Provider.objects.create(name="p", kind="openai")
    llm = LLM.objects.create(name="m", provider=provider)
    cohort = Cohort.objects.create(name="team")
    key, _ = api_key_create(cohort_name="team")
    profile = PreferenceProfile.objects.create(name="fast", weights={"latency": 1.0})
    decision = Decision.objects.create(cohort=cohort, chosen_model=llm, strategy="knn")
    job = ImportJob.objects.create(dataset_name="d", source_format="bundle")
    batch = Batch.objects.create(api_key=key, cohort=cohort, model="m", total=0)
    run = EvaluationRun.objects.create(dataset=Dataset.objects.create(name="d", source_format="bundle"))
    return {"decisions/": decision.pk, "cohorts/": cohort.pk, "keys/": key.pk, "profiles/": profile.pk,
            "imports/": job.pk, "models/": llm.pk, "providers/": provider.pk, "batches/": batch.pk,
            "evaluations/": run.pk}


def url_for(route: str, pattern: URLPattern, records: dict[str, Any]) -> str:
    """The route with its parameter filled by the record its path names (a new kind fails here)."""
    if not pattern.pattern.converters:  # type: ignore[attr-defined]
        return "/" + route
    owner = next((part for part in records if part in route), None)
    assert owner, f"the console route {route!r} names a record this test does not create: add it to `records`"
    head, _, tail = route.partition("<")
    return "/" + head + str(records[owner]) + tail.partition(">")[2]


def test_the_console_has_pages() -> None:
    assert len(console_routes()) >= 10


def test_it_sends_anonymous_visitors_to_sign_in(client: Any, records: dict[str, Any]) -> None:
    for route, pattern in console_routes():
        url = url_for(route, pattern, records)
        for response in (client.get(url), client.post(url)):
            assert response.status_code == 302 and "login" in response["Location"], url


def test_it_refuses_signed_in_people_who_are_not_staff(client: Any, outsider: Any, records: dict[str, Any]) -> None:
    client.force_login(outsider)
    for route, pattern in console_routes():
        url = url_for(route, pattern, records)
        for response in (client.get(url), client.post(url)):
            assert response.status_code == 403 or "login" in response.get("Location", ""), url
    assert Cohort.objects.get(name="team").api_keys.usable().count() == 1
    assert EvaluationRun.objects.count() == 1


def test_it_serves_every_page_to_staff(client: Any, engineer: Any, records: dict[str, Any]) -> None:
    for route, pattern in console_routes():
        url = url_for(route, pattern, records)
        response = client.get(url)
        # Actions (POST only) answer 405 to a GET; every page answers 200.
        assert response.status_code in (200, 405), (url, response.status_code)
