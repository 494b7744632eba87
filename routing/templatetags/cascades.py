"""A decision's cascade in words (the record routing.cascade.runtime keeps in `Decision.cascade`), for
the decision page and the chat's routing details."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import template

from routing.templatetags.chat_text import usd

register = template.Library()

CHECK_NAMES = {"extraction": "answer extraction", "format": "format compliance",
               "agreement": "agreement of the two", "knn_estimate": "k-NN estimate"}
OUTCOMES = {"ok": "answered", "error": "failed", "streamed": "streamed its answer"}


@dataclass
class CascadeCall:
    model: str
    outcome: str  # in words
    failed: bool
    cost_usd: float | None  # None: streamed, its cost is the answer's
    escalation: bool  # called after the check failed
    error: str = ""


@dataclass
class CascadeView:
    skipped: str = ""  # requested, not run: why
    first: str = ""
    second: str = ""
    format: str = ""
    checks: list[str] = field(default_factory=list)
    escalates_to: list[str] = field(default_factory=list)
    calls: list[CascadeCall] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)  # "answer read: B", "format kept: yes"
    passed: bool | None = None  # None: not checked
    ran: bool = False  # False: the plan only (a dry run, or a request stopped before its calls)
    escalated: bool = False
    reason: str = ""
    cost_usd: float | None = None
    answer: str | None = None
    agreed: bool | None = None


def format_words(name: str) -> str:
    kind, _, options = name.partition(":")
    if options:
        return "a choice among " + ", ".join(options)
    return {"number": "a number", "short": "a short answer", "code": "code"}.get(kind, name)


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _verdicts(check: dict[str, Any]) -> list[str]:
    said = check.get("check")
    if not isinstance(said, dict):
        return [f"not checked: {said}" if said else "not checked"]
    out = []
    if "extracted" in said:
        out.append(f"answer read: {said.get('answer')}" if said["extracted"] else "answer read: none")
    if "format_kept" in said:
        out.append(f"format kept: {_yes(said['format_kept'])}")
    if "agreed" in said:
        out.append(f"second model agreed: {_yes(said['agreed'])}")
    return out


@register.filter
def cascade_view(record: dict[str, Any] | None) -> CascadeView | None:
    """The record as the page shows it; None when the request was not cascaded."""
    if not record:
        return None
    if "skipped" in record:
        return CascadeView(skipped=str(record["skipped"]))
    steps = record.get("steps") or []
    checked = next((i for i, s in enumerate(steps) if "check" in s), len(steps))
    check = steps[checked] if checked < len(steps) else {}
    said: dict[str, Any] = check["check"] if isinstance(check.get("check"), dict) else {}
    calls = [CascadeCall(model=s["call"], outcome=OUTCOMES.get(s.get("outcome", ""), s.get("outcome", "")),
                         failed=s.get("outcome") == "error", cost_usd=s.get("cost_usd"), escalation=i > checked,
                         error=s.get("error", "")) for i, s in enumerate(steps) if "call" in s]
    return CascadeView(first=record.get("first") or "", second=record.get("second") or "",
                       format=format_words(record.get("format") or ""),
                       checks=[CHECK_NAMES.get(c, c) for c in record.get("checks") or []],
                       escalates_to=list(record.get("escalates_to") or []), calls=calls,
                       verdicts=_verdicts(check) if check else [], ran=bool(steps),
                       passed=bool(check.get("passed")) if check else None,
                       escalated=bool(record.get("escalated")), reason=record.get("reason") or "",
                       cost_usd=record.get("cost_usd"), answer=said.get("answer"), agreed=said.get("agreed"))


@register.filter
def cascade_brief(record: dict[str, Any] | None) -> str:
    """One line for the chat: "small-a answered B; small-b agreed; returned without escalating, $0.000004"
    (money as the chat shows it)."""
    view = cascade_view(record)
    if view is None:
        return ""
    if view.skipped:
        return f"Cascade requested but not run: {view.skipped}."
    if not view.ran:
        then = f", escalating to {' or '.join(view.escalates_to)}" if view.escalates_to else ""
        return f"Cascade planned: {view.first}{f' and {view.second}' if view.second else ''} first{then}."
    parts = [_call_words(call, view) for call in view.calls if not call.escalation]
    if view.escalated:
        target = next((c.model for c in view.calls if c.escalation), "")
        parts.append(f"escalated to {target}: {view.reason}" if target else f"escalated: {view.reason}")
    else:
        parts.append("returned without escalating")
    cost = f", {usd(view.cost_usd)}" if view.cost_usd is not None else ""
    return "; ".join(parts) + cost


def _call_words(call: CascadeCall, view: CascadeView) -> str:
    if call.failed:
        return f"{call.model} failed"
    if call.model == view.second and view.agreed is not None:
        return f"{call.model} {'agreed' if view.agreed else 'disagreed'}"
    if call.model == view.first and view.answer:
        return f"{call.model} answered {view.answer}"
    return f"{call.model} answered"
