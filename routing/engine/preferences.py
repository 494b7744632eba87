"""The weights a request is scored with: a named profile with single sliders overridden."""

from __future__ import annotations

from optiroute.api_errors import OptiRouteError
from routing.engine.snapshot import snapshots
from routing.models import Cohort
from routing.rules import SLIDERS


def preferences_resolve(*, profile: str | None, overrides: dict[str, float] | None,
                        cohort: Cohort | None) -> tuple[str, dict[str, float]]:
    """A named profile (else the cohort's, else balanced) with single sliders overridden."""
    name = profile or (cohort.default_profile.name if cohort and cohort.default_profile else "balanced")
    snapshot = snapshots.get()
    if name in snapshot.broken_profiles:
        raise OptiRouteError(snapshot.broken_profiles[name], status=503, code="profile_misconfigured")
    profiles = snapshot.profiles
    if name not in profiles:
        known = ", ".join(sorted(profiles))
        raise OptiRouteError(f"unknown profile {name!r}; known profiles: {known}", code="unknown_profile")
    weights = dict(profiles[name])
    for slider, value in (overrides or {}).items():
        if slider not in SLIDERS:
            raise OptiRouteError(f"unknown preference {slider!r}; sliders are {', '.join(SLIDERS)}")
        weights[slider] = float(value)
    if not any(weights.values()):
        raise OptiRouteError("at least one preference must be above 0")
    return name, weights
