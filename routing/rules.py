"""What a valid set of hard constraints, and of preference slider weights, is.

One rule for every way in: the models' field validators (so the admin and any form built
from the models), the API's serializers, and routing itself, which must not trust a value
stored before the rule existed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from django.core.exceptions import ValidationError

SLIDERS = ["accuracy", "latency", "cost", "helpfulness", "harmlessness", "honesty", "steerability", "creativity"]


def _is_number(value: object) -> bool:
    # JSON true/false arrive as bool, a subclass of int: never a number here.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _non_negative(value: object) -> bool:
    return _is_number(value) and value >= 0  # type: ignore[operator]


def _positive_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _names(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) and item.strip() for item in value)


def _flag(value: object) -> bool:
    return isinstance(value, bool)


# Each hard constraint: what its value must be, and how to say so.
CONSTRAINTS: dict[str, tuple[Callable[[object], bool], str]] = {
    "max_cost_usd": (_non_negative, "a number >= 0"),
    "max_latency_ms": (_non_negative, "a number >= 0"),
    "min_context_window": (_positive_whole, "a whole number >= 1"),
    "allowed_models": (_names, "a list of model names"),
    "denied_models": (_names, "a list of model names"),
    "licenses": (_names, "a list of license names"),
    "local_only": (_flag, "true or false"),
}
CONSTRAINTS_HELP = "A JSON object with any of: " + ", ".join(
    f"{key} ({expected})" for key, (_, expected) in CONSTRAINTS.items()) + "."
WEIGHTS_HELP = (f"A JSON object of slider weights from 0 to 1, at least one above 0; sliders: {', '.join(SLIDERS)} "
                "(a slider left out weighs 0).")


def constraint_problems(value: object) -> list[str]:
    """What is wrong with a set of hard constraints, one message per bad entry (none: valid)."""
    if not isinstance(value, dict):
        return [f"constraints must be a JSON object, not {_shown(value)}"]
    problems = []
    for key, item in value.items():
        if key not in CONSTRAINTS:
            problems.append(f"unknown constraint {_shown(key)}; known: {', '.join(CONSTRAINTS)}")
            continue
        valid, expected = CONSTRAINTS[key]
        if not valid(item):
            problems.append(f"{key} must be {expected}, not {_shown(item)}")
    return problems


def weight_problems(value: object) -> list[str]:
    """What is wrong with a profile's slider weights, one message per bad entry (none: valid)."""
    if not isinstance(value, dict):
        return [f"weights must be a JSON object of sliders, not {_shown(value)}"]
    problems = []
    for key, weight in value.items():
        if key not in SLIDERS:
            problems.append(f"unknown slider {_shown(key)}; sliders are {', '.join(SLIDERS)}")
        elif not (_is_number(weight) and 0 <= weight <= 1):
            problems.append(f"{key} must be a number from 0 to 1, not {_shown(weight)}")
    if not problems and not any(weight > 0 for weight in value.values()):
        problems.append("at least one slider must be above 0")
    return problems


def validate_constraints(value: object) -> None:
    if problems := constraint_problems(value):
        raise ValidationError(problems, code="invalid_constraints")


def validate_weights(value: object) -> None:
    if problems := weight_problems(value):
        raise ValidationError(problems, code="invalid_weights")


def _shown(value: object) -> str:
    shown = json.dumps(value, default=repr)
    return shown if len(shown) <= 60 else shown[:57] + "..."
