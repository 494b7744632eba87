"""Personas and records for the console's tests: a staff engineer, a signed-in outsider."""

from typing import Any

import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def engineer(client: Any) -> Any:
    user = get_user_model().objects.create_user("grace", password="pw-grace-123", is_staff=True)
    client.force_login(user)
    return user


@pytest.fixture
def outsider() -> Any:
    return get_user_model().objects.create_user("mallory", password="pw-mallory-123")
