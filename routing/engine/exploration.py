"""Bounded exploration: now and then route on a plausible quality instead of the expected one, so
that feedback also speaks about models routing would not have chosen (Thompson sampling).

Only candidates that meet every hard constraint (pool, budget, limits) are ever drawn from."""

from __future__ import annotations

import random
from dataclasses import replace

from django.conf import settings

from routing.engine.request import Candidate
from routing.engine.scoring import rank
from routing.models import Cohort, Decision


def exploration_share(*, cohort: Cohort | None, profile: str, mode: str) -> float:
    """The share of this traffic that explores: none where the cohort or profile disallows it, and
    none for dry runs unless configured."""
    if cohort is not None and not cohort.allows_exploration:
        return 0.0
    if profile in settings.EXPLORATION_OFF_PROFILES:
        return 0.0
    if mode == Decision.Mode.DRY_RUN and not settings.EXPLORATION_DRY_RUN:
        return 0.0
    return settings.EXPLORATION_SHARE


def explore(ranking: list[Candidate], weights: dict[str, float], *, share: float,
            rng: random.Random | None = None) -> tuple[list[Candidate], bool]:
    """With probability `share`, rank again on a quality drawn from each candidate's Beta
    posterior (its expected quality over its evidence count); returns the ranking with the
    drawn winner first, and whether that differs from the expected choice."""
    rng = rng or random.Random()
    if share <= 0 or len(ranking) < 2 or rng.random() >= share:
        return ranking, False
    drawn = rank([replace(c, quality=_draw(c, rng)) for c in ranking], weights)
    winner = next(c for c in ranking if c.llm.id == drawn[0].llm.id)
    return [winner, *(c for c in ranking if c is not winner)], winner is not ranking[0]


def _draw(candidate: Candidate, rng: random.Random) -> float:
    n = max(candidate.evidence_n, 1)
    q = min(max(candidate.quality, 0.0), 1.0)
    return rng.betavariate(q * n + 1, (1 - q) * n + 1)
