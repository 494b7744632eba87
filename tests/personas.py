"""Who may see or do what: the people and keys of permission tests (registered in tests/conftest.py).

An owner and a teammate share cohort A; an outsider belongs to cohort B; a non-staff user is
signed in with no cohort (the default cohort's terms); a staff user may use the console and the
admin site; a revoked key is refused. Each persona has its own signed-in browser client and,
where it has one, an API key and a REST client sending it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from tests.conftest import bearer_client

COHORT_A = "cohort-a"
COHORT_B = "cohort-b"


@dataclass
class Persona:
    user: Any
    password: str
    client: Client  # a browser session signed in as `user`
    key: Any = None  # the persona's ApiKey (None for people without one)
    raw: str = ""  # the key's raw value, as a caller sends it
    api: Any = None  # a REST client sending `raw`
    chat_key: Any = None  # the ApiKey the browser chat uses on the user's behalf, once made

    @property
    def cohort(self) -> Any:
        return self.key.cohort


def person(username: str, *, cohort: str | None = None, key: bool = True, **flags: Any) -> Persona:
    """A user signed in on their own client, a member of `cohort`, with an API key of that cohort."""
    from django.contrib.auth import get_user_model

    from routing.access.keys import api_key_create, cohort_get

    password = f"pw-{username}-123"
    user = get_user_model().objects.create_user(username, password=password, **flags)
    if cohort is not None:
        cohort_get(cohort).members.add(user)
    client = Client()
    client.force_login(user)
    if not key:
        return Persona(user, password, client)
    api_key, raw = api_key_create(cohort_name=cohort, label=username)
    return Persona(user, password, client, api_key, raw, bearer_client(raw))


@pytest.fixture
def cohorts(db: None) -> tuple[Any, Any]:
    from routing.models import Cohort

    return Cohort.objects.create(name=COHORT_A), Cohort.objects.create(name=COHORT_B)


@pytest.fixture
def owner(cohorts: tuple[Any, Any]) -> Persona:
    """A member of cohort A with an API key of cohort A and a browser-chat key (`owner.chat_key`)."""
    from routing.access.keys import get_chat_key_for_user

    owner = person("owner", cohort=COHORT_A)
    owner.chat_key = get_chat_key_for_user(owner.user)
    return owner


@pytest.fixture
def teammate(cohorts: tuple[Any, Any]) -> Persona:
    """Another member of cohort A, with a key of cohort A."""
    return person("teammate", cohort=COHORT_A)


@pytest.fixture
def outsider(cohorts: tuple[Any, Any]) -> Persona:
    """A member of cohort B, with a key of cohort B."""
    return person("outsider", cohort=COHORT_B)


@pytest.fixture
def non_staff(db: None) -> Persona:
    """Signed in, in no cohort (so the browser chat uses the default cohort's terms), no API key."""
    return person("enduser", key=False)


@pytest.fixture
def staff(db: None) -> Persona:
    """An engineer with the console and the admin site's rights, no API key."""
    return person("engineer", key=False, is_staff=True, is_superuser=True)


@pytest.fixture
def revoked_key(db: None) -> Persona:
    """A key of the default cohort, revoked: `revoked_key.api` sends it."""
    from routing.access.keys import api_key_create

    key, raw = api_key_create(cohort_name=None, label="revoked")
    key.revoke()
    return Persona(None, "", Client(), key, raw, bearer_client(raw))
