"""Providers in the console: add and edit one, its key named by environment variable, never stored."""

from typing import Any

import pytest

from registry.models import Provider

pytestmark = pytest.mark.django_db


def provider_form(**overrides: Any) -> dict[str, Any]:
    return {"name": "acme", "kind": "openai", "base_url": "https://llm.acme.test/v1", "api_key_env": "ACME_KEY"} | overrides


def test_it_adds_and_edits_a_provider(client: Any, engineer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_KEY", "sk-secret-value")

    response = client.post("/console/providers/new/", provider_form())
    provider = Provider.objects.get(name="acme")
    assert response.status_code == 302 and provider.api_key_env == "ACME_KEY"
    client.post(f"/console/providers/{provider.pk}/", provider_form(base_url="https://eu.acme.test/v1"))
    provider.refresh_from_db()
    assert provider.base_url == "https://eu.acme.test/v1"

    page = client.get(f"/console/providers/{provider.pk}/").content.decode()
    listed = client.get("/console/").content.decode()
    assert "ACME_KEY" in page and "set" in page and "sk-secret-value" not in page
    assert f'href="/console/providers/{provider.pk}/"' in listed and "sk-secret-value" not in listed


def test_it_refuses_a_key_where_a_variable_name_belongs(client: Any, engineer: Any) -> None:
    response = client.post("/console/providers/new/", provider_form(api_key_env="sk-live-1234"))
    assert response.status_code == 400 and not Provider.objects.exists()
    assert "not the key itself" in response.content.decode() and "sk-live-1234" not in response.content.decode()


def test_an_http_provider_needs_its_base_url(client: Any, engineer: Any) -> None:
    response = client.post("/console/providers/new/", provider_form(base_url=""))
    assert response.status_code == 400 and "needs its base URL" in response.content.decode()
