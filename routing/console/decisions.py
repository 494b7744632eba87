"""A decision's stored terms in words for its console page: weights in slider order, constraints as phrases."""

from __future__ import annotations

from typing import Any

from registry.templatetags.units import duration, money
from routing.models import SLIDERS, Decision


def weights_in_order(decision: Decision) -> list[tuple[str, float]]:
    """The non-zero weights in the sliders' order (the stored JSON keeps no order)."""
    return [(slider, decision.weights[slider]) for slider in SLIDERS if decision.weights.get(slider)]


def constraint_phrases(constraints: dict[str, Any]) -> list[str]:
    phrases = {"max_cost_usd": lambda v: f"at most {money(v)} a call",
               "max_latency_ms": lambda v: f"answers within {duration(v)}",
               "min_context_window": lambda v: f"a context window of at least {v:,} tokens",
               "allowed_models": lambda v: "only " + ", ".join(v), "denied_models": lambda v: "never " + ", ".join(v),
               "licenses": lambda v: "licenses " + ", ".join(v), "local_only": lambda v: "local models only"}
    return [phrases[key](value) if key in phrases else f"{key.replace('_', ' ')} {value}"
            for key, value in constraints.items()]
