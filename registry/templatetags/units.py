"""Money and durations for people: `$0.0036`, `1.2 s`, never a raw float."""

from __future__ import annotations

import math

from django import template

register = template.Library()

MISSING = "–"


@register.filter
def money(value: object) -> str:
    """USD with two significant digits below a dollar ($0.0036), cents above ($1,234.50)."""
    if value is None or value == "":
        return MISSING
    amount = float(value)  # type: ignore[arg-type]
    sign, amount = ("-" if amount < 0 else ""), abs(amount)
    if amount == 0:
        return "$0"
    if amount >= 1:
        return f"{sign}${amount:,.2f}"
    if amount < 1e-8:
        return f"{sign}< $0.00000001"
    digits = min(8, max(2, 1 - math.floor(math.log10(amount))))
    shown = f"{amount:.{digits}f}"
    whole, fraction = shown.split(".")
    return f"{sign}${whole}.{fraction.rstrip('0').ljust(2, '0')}"


@register.filter
def duration(milliseconds: object) -> str:
    """A time given in milliseconds: `8.5 ms`, `350 ms`, `1.2 s`, `2 min 5 s`."""
    if milliseconds is None or milliseconds == "":
        return MISSING
    ms = float(milliseconds)  # type: ignore[arg-type]
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds} s"
