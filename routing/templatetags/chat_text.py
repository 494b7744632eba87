"""Template filters of the browser chat (templates/routing/chat.html)."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from routing.chat.markdown import markdown_to_html

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    return mark_safe(markdown_to_html(text))  # noqa: S308 -- sanitised by nh3


@register.filter
def usd(value: float | None) -> str:
    """Money for people: $0.0036, $1.25, and the smallest amounts still visible."""
    if value is None:
        return "–"
    if value == 0:
        return "$0"
    if value < 0:
        return "-" + usd(-value)
    if abs(value) >= 1:
        return f"${value:,.2f}"
    if abs(value) < 0.000001:
        return "under $0.000001"
    digits = 6 if abs(value) < 0.0001 else 4
    return f"${value:.{digits}f}".rstrip("0").rstrip(".")


@register.filter
def duration(ms: float | None) -> str:
    if ms is None:
        return "–"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"
