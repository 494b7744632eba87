"""Staff turn cascades on and off for a cohort or a profile in the console, and chat completions
follow: a cheap answer is checked first (the completion's `cascade` is set) or not (null)."""

import re
from typing import Any

import pytest

from routing.access.auth import forget
from routing.engine.snapshot import snapshots
from routing.models import Cohort, PreferenceProfile
from tests.routing.cascades import QUESTION, TERMS, answering

pytestmark = pytest.mark.django_db
LABEL = "Check a cheap answer first (cascade)"


def cascade_of_a_completion(api: Any, key: Any) -> Any:
    """The completion's cascade, with no cascade option in the request, once routing sees the change."""
    forget(key[0])  # a key is trusted with its cohort for up to KEY_CACHE_SECONDS: skip the wait
    snapshots.clear()
    body = {"model": "optiroute/auto", "optiroute": {"preferences": TERMS["optiroute"]["preferences"]},
            "messages": [{"role": "user", "content": QUESTION}]}
    response = api.post("/v1/chat/completions", body, format="json")
    assert response.status_code == 200, response.content
    return response.json()["optiroute"]["cascade"]


def listed_row(client: Any, page: str, pk: int) -> str:
    """The row of the list at `page` that links to the item `pk`."""
    row = re.search(rf'<tr>\s*<td><a href="{page}{pk}/">.*?</tr>', client.get(page).content.decode(), re.S)
    assert row, f"no row for {pk} in {page}"
    return row.group(0)


def test_a_staff_user_turns_a_cohorts_cascade_on_and_off(trio: Any, api: Any, key: Any, client: Any,
                                                         engineer: Any) -> None:
    answering(small_a="fake-letter-b", small_b="fake-letter-b", large="fake-ok")
    cohort = key[0].cohort
    page = client.get(f"/console/cohorts/{cohort.pk}/").content.decode()
    assert f'<label for="id_cascade">{LABEL}:</label>' in page
    assert '<small class="hint" id="id_cascade_helptext">Adds the latency of the cheap calls' in page
    assert cascade_of_a_completion(api, key) is None

    assert client.post(f"/console/cohorts/{cohort.pk}/", {"name": cohort.name, "cascade": "on"}).status_code == 302

    assert Cohort.objects.get(pk=cohort.pk).cascade is True
    assert cascade_of_a_completion(api, key)["first"] == "small-a"
    assert "<td>on</td>" in listed_row(client, "/console/cohorts/", cohort.pk)
    assert 'id="id_cascade" checked' in client.get(f"/console/cohorts/{cohort.pk}/").content.decode()

    assert client.post(f"/console/cohorts/{cohort.pk}/", {"name": cohort.name}).status_code == 302

    assert Cohort.objects.get(pk=cohort.pk).cascade is False
    assert "<td>off</td>" in listed_row(client, "/console/cohorts/", cohort.pk)
    assert cascade_of_a_completion(api, key) is None


def test_a_staff_user_turns_a_profiles_cascade_on_and_off(trio: Any, api: Any, key: Any, client: Any,
                                                          engineer: Any) -> None:
    answering(small_a="fake-letter-b", small_b="fake-letter-b", large="fake-ok")
    profile = PreferenceProfile.objects.get(name="balanced")
    form = {"description": profile.description, **{k: str(v) for k, v in profile.full_weights().items()}}
    assert LABEL in client.get(f"/console/profiles/{profile.pk}/").content.decode()

    assert client.post(f"/console/profiles/{profile.pk}/", form | {"cascade": "on"}).status_code == 302

    assert PreferenceProfile.objects.get(pk=profile.pk).cascade is True
    assert cascade_of_a_completion(api, key)["first"] == "small-a"
    assert "<td>on</td>" in listed_row(client, "/console/profiles/", profile.pk)

    assert client.post(f"/console/profiles/{profile.pk}/", form).status_code == 302

    assert PreferenceProfile.objects.get(pk=profile.pk).cascade is False
    assert "<td>off</td>" in listed_row(client, "/console/profiles/", profile.pk)
    assert cascade_of_a_completion(api, key) is None
