"""The thumbs under a chat answer, showing the person's current rating and comment."""

from __future__ import annotations

import uuid
from typing import Any

from django import template

from feedback.models import Feedback

register = template.Library()


@register.inclusion_tag("feedback/rating.html", takes_context=True)
def rating_form(context: template.Context, decision_id: uuid.UUID, next_url: str) -> dict[str, Any]:
    user = context["request"].user
    feedback = Feedback.objects.filter(decision_id=decision_id, user=user).first() if user.is_authenticated else None
    return {"decision_id": decision_id, "next": next_url, "feedback": feedback, "csrf_token": context.get("csrf_token")}
