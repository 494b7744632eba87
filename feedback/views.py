"""Thumbs up/down from the browser chat, on the user's own answers."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from feedback.services import feedback_record
from optiroute.api_errors import OptiRouteError
from routing.access.keys import get_chat_key_for_user

RATINGS = {"up": 1, "down": -1}


@login_required
@require_POST
def chat_feedback(request: HttpRequest, decision_id: uuid.UUID, rating: str) -> HttpResponse:
    if rating not in RATINGS:
        raise Http404("a rating is up or down")
    try:
        feedback_record(api_key=get_chat_key_for_user(request.user), decision_id=decision_id, rating=RATINGS[rating],
                        comment=request.POST.get("comment", "").strip()[:2000])
    except OptiRouteError as exc:
        return render(request, "feedback/rated.html", {"error": exc.message}, status=exc.status)
    if not request.headers.get("HX-Request"):  # a plain form post (no JavaScript): back to the conversation
        back = request.POST.get("next", "")
        return redirect(back if url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}) else "chat")
    return render(request, "feedback/rated.html", {"rating": rating})
