"""Models in the console: register, edit, deactivate; credentials by name; a test call to one model."""

import re
from typing import Any

import pytest

from registry.models import LLM, Provider

pytestmark = pytest.mark.django_db


def model_form(provider: Provider, **overrides: Any) -> dict[str, Any]:
    return {"name": "fresh", "provider": provider.pk, "api_model_id": "fake-ok", "input_price_per_mtok": "0.5",
            "output_price_per_mtok": "1.5", "context_window": "8000", "is_active": "on"} | overrides


def test_it_registers_and_edits_a_model(client: Any, engineer: Any, fake_provider: Any) -> None:
    provider = Provider.objects.get(name="fakeai")
    response = client.post("/console/models/new/", model_form(provider))
    llm = LLM.objects.get(name="fresh")
    assert response.status_code == 302 and llm.output_price_per_mtok == 1.5 and llm.is_active
    client.post(f"/console/models/{llm.pk}/", model_form(provider, context_window="16000"))
    llm.refresh_from_db()
    assert llm.context_window == 16000


def test_it_says_what_is_wrong_with_a_model(client: Any, engineer: Any, fake_provider: Any) -> None:
    provider = Provider.objects.get(name="fakeai")
    response = client.post("/console/models/new/", model_form(provider, input_price_per_mtok="-1", context_window="0"))
    assert response.status_code == 400 and not LLM.objects.filter(name="fresh").exists()
    assert "greater than or equal to 0" in response.content.decode()


def test_it_deactivates_a_model(client: Any, engineer: Any, fake_provider: Any) -> None:
    llm = LLM.objects.get(name="fake-ok")
    assert client.post(f"/console/models/{llm.pk}/deactivate/").status_code == 302
    llm.refresh_from_db()
    assert not llm.is_active


def test_it_names_the_credentials_variable_never_its_value(client: Any, engineer: Any, fake_provider: Any) -> None:
    llm = LLM.objects.get(name="fake-ok")
    for url in ("/console/", f"/console/models/{llm.pk}/"):
        page = client.get(url).content.decode()
        assert "FAKE_OPENAI_KEY" in page and "sk-test" not in page and "set" in page


def test_a_test_call_shows_answer_latency_and_cost(client: Any, engineer: Any, fake_provider: Any) -> None:
    llm = LLM.objects.get(name="fake-ok")
    response = client.post(f"/console/models/{llm.pk}/test-call/", HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200 and "Hello from the local provider." in page and "answered" in page
    assert "<html" not in page and re.search(r"answered</span> in [\d.]+ m?s for \$0\.\d+ ", page)


def test_a_test_call_says_why_a_model_cannot_be_called(client: Any, engineer: Any, fake_provider: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAKE_OPENAI_KEY")
    llm = LLM.objects.get(name="fake-ok")
    page = client.post(f"/console/models/{llm.pk}/test-call/").content.decode()
    assert "no credentials: FAKE_OPENAI_KEY is not set" in page
