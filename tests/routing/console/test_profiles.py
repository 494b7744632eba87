"""Profiles in the console: eight labelled sliders, no JSON, validated by routing.rules."""

from typing import Any

import pytest

from routing.models import SLIDERS, PreferenceProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def profile() -> PreferenceProfile:
    return PreferenceProfile.objects.create(name="fast", weights={"latency": 1.0, "accuracy": 0.5})


def weights(**values: float) -> dict[str, str]:
    return {slider: str(values.get(slider, 0.0)) for slider in SLIDERS}


def test_it_edits_the_weights_with_labelled_sliders(client: Any, engineer: Any, profile: PreferenceProfile) -> None:
    page = client.get(f"/console/profiles/{profile.pk}/").content.decode()
    assert page.count('type="range"') == 8 and "<textarea" not in page.replace('name="description"', "")
    assert 'id="id_latency-value">1.00</output>' in page and "within 5 s" in page
    response = client.post(f"/console/profiles/{profile.pk}/", {"description": "snappy"} | weights(cost=0.25, accuracy=1))
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.full_weights() == {slider: 0.0 for slider in SLIDERS} | {"cost": 0.25, "accuracy": 1.0}


def test_it_refuses_all_sliders_at_zero(client: Any, engineer: Any, profile: PreferenceProfile) -> None:
    response = client.post(f"/console/profiles/{profile.pk}/", weights())
    assert response.status_code == 400 and "at least one slider must be above 0" in response.content.decode()
    profile.refresh_from_db()
    assert profile.weights == {"latency": 1.0, "accuracy": 0.5}


def test_it_refuses_a_weight_out_of_range(client: Any, engineer: Any, profile: PreferenceProfile) -> None:
    response = client.post(f"/console/profiles/{profile.pk}/", weights(cost=1.5))
    assert response.status_code == 400 and "less than or equal to 1" in response.content.decode()
