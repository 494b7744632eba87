"""Who may use every URL the project serves, derived from the URL configuration: a URL added
without a rule here fails. Each is tried by an anonymous caller, a revoked key, a signed-in
person who is not staff, and a person and key of another cohort (for URLs naming a record)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from registry.models import LLM, Provider
from routing.models import Batch, Conversation, Decision
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db

PUBLIC = "anyone"  # probes, sign-in, the API schema, the landing redirect
LOOPBACK = "loopback or the metrics token"
KEY = "an API key"  # the API: the key's cohort's records only
USER = "a signed-in person"  # the chat: their own records only
STAFF = "staff"  # the console and the feedback review page
ADMIN = "the Django admin"

RULES = {
    "": PUBLIC, "healthz": PUBLIC, "readyz": PUBLIC, "metrics": LOOPBACK, "admin/": ADMIN,
    "accounts/login/": PUBLIC, "accounts/logout/": PUBLIC, "api/schema/": PUBLIC, "api/schema": PUBLIC,
    "api/v1/route": KEY, "v1/chat/completions": KEY, "v1/models": KEY, "api/v1/feedback": KEY,
    "api/v1/batches": KEY, "api/v1/batches/<uuid:batch_id>": KEY, "api/v1/batches/<uuid:batch_id>/results": KEY,
    "api/v1/batches/<uuid:batch_id>/confirm": KEY, "api/v1/batches/<uuid:batch_id>/cancel": KEY,
    "api/v1/batches/<uuid:batch_id>/resume": KEY, "api/v1/batches/<uuid:batch_id>/items": KEY,
    "chat/": USER, "chat/c/<int:pk>/": USER, "chat/c/<int:pk>/rename/": USER, "chat/c/<int:pk>/delete/": USER,
    "chat/preview/": USER, "chat/stream/": USER, "chat/decisions/<uuid:pk>/": USER,
    "chat/feedback/<uuid:decision_id>/<str:rating>/": USER,
    "feedback/": STAFF, "feedback/reset/": STAFF,
}


def routes() -> list[str]:
    found = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver) and route != "admin/":
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) or route == "admin/":
                found.append(route)

    walk(get_resolver().url_patterns, "")
    return found


def rule(route: str) -> str:
    if route.startswith("console/"):
        return STAFF  # each console page in detail: tests/routing/console/test_console_is_staff_only.py
    assert route in RULES, f"{route!r} is served but has no access rule: add it to RULES and test it"
    return RULES[route]


@pytest.fixture
def mine(owner: Any) -> dict[str, str]:
    """The owner's records, by the URL parameter that names them."""
    provider = Provider.objects.create(name="p", kind="openai")
    llm = LLM.objects.create(name="m", provider=provider)
    decision = Decision.objects.create(mode=Decision.Mode.CHAT, user=owner.user, api_key=owner.chat_key,
                                       cohort=owner.chat_key.cohort, chosen_model=llm, answered_by=llm, strategy="knn")
    batch = Batch.objects.create(api_key=owner.key, cohort=owner.cohort, model="m", total=0)
    conversation = Conversation.objects.create(user=owner.user, title="mine")
    return {"<uuid:batch_id>": str(batch.pk), "<int:pk>": str(conversation.pk), "<uuid:pk>": str(decision.pk),
            "<uuid:decision_id>": str(decision.pk), "<str:rating>": "up"}


def url(route: str, records: dict[str, str]) -> str:
    for parameter, value in records.items():
        route = route.replace(parameter, value)
    assert "<" not in route, f"{route!r} names a record this test does not create: add it to `mine`"
    return "/" + route


def names_a_record(route: str) -> bool:
    return "<" in route


def calls(client: Any, path: str) -> list[Any]:
    return [client.get(path), client.post(path, {}, content_type="application/json")]


def to_sign_in(response: Any) -> bool:
    return response.status_code == 302 and "login" in response["Location"]


def test_every_url_has_a_rule() -> None:
    served = routes()
    assert len(served) > 30
    for route in served:
        rule(route)


def test_an_anonymous_caller(client: Any, mine: dict[str, str]) -> None:
    for route in routes():
        path = url(route, mine)
        for response in calls(client, path):
            kind = rule(route)
            if kind == KEY:
                assert response.status_code == 401, (path, response.status_code)
            elif kind in (USER, STAFF, ADMIN):
                assert to_sign_in(response), (path, response.status_code)
            elif kind == LOOPBACK:
                assert client.get(path, REMOTE_ADDR="203.0.113.5").status_code == 403, path
            else:
                assert response.status_code not in (401, 403) and (response.status_code < 500 or route == "readyz"), \
                    (path, response.status_code)


def test_a_revoked_key(revoked_key: Any, mine: dict[str, str]) -> None:
    for route in routes():
        kind = rule(route)
        if kind in (PUBLIC, LOOPBACK):
            continue
        for response in calls(revoked_key.api, url(route, mine)):
            if kind == KEY:
                assert response.status_code == 401, route
            else:  # a key is no browser session
                assert to_sign_in(response), (route, response.status_code)


def test_a_signed_in_person_who_is_not_staff(non_staff: Any, mine: dict[str, str]) -> None:
    for route in routes():
        kind = rule(route)
        if kind not in (STAFF, ADMIN, KEY):
            continue
        for response in calls(non_staff.client, url(route, mine)):
            if kind == KEY:
                assert response.status_code == 401, route  # the API takes keys, not browser sessions
            else:
                assert response.status_code == 403 or to_sign_in(response), (route, response.status_code)


def test_another_cohorts_person_and_key_find_none_of_the_owners_records(outsider: Any, owner: Any,
                                                                        mine: dict[str, str]) -> None:
    for route in routes():
        kind = rule(route)
        if not names_a_record(route) or kind == STAFF:
            continue
        path = url(route, mine)
        client = outsider.api if kind == KEY else outsider.client
        found, action = calls(client, path)
        assert found.status_code in (404, 405), (path, found.status_code, found.content[:200])
        assert action.status_code in (404, 405), (path, action.status_code, action.content[:200])
        assert 404 in (found.status_code, action.status_code), path  # the method it serves says "not found"


def test_the_owner_reaches_their_own_records(owner: Any, mine: dict[str, str]) -> None:
    """The refusals above are about who asks, not broken URLs."""
    for route in ("api/v1/batches/<uuid:batch_id>", "chat/c/<int:pk>/", "chat/decisions/<uuid:pk>/"):
        client = owner.api if rule(route) == KEY else owner.client
        assert client.get(url(route, mine)).status_code == 200, route


def test_a_key_is_no_substitute_for_staff(owner: Any) -> None:
    assert to_sign_in(bearer_client(owner.raw).get("/console/"))
