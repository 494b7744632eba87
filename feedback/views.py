"""Thumbs up/down from the browser chat, on the user's own answers; the staff page of what
feedback changed, with its reset."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from feedback.changes import RANGES_DAYS, exploration_summary, feedback_changes
from feedback.models import Feedback
from feedback.services import feedback_record, feedback_reset
from optiroute.api_errors import OptiRouteError
from registry.models import LLM
from routing.access.keys import get_chat_key_for_user

RATINGS = {"up": Feedback.Rating.UP, "down": Feedback.Rating.DOWN}


@login_required
@require_POST
def chat_feedback(request: HttpRequest, decision_id: uuid.UUID, rating: str) -> HttpResponse:
    if rating not in RATINGS:
        raise Http404("a rating is up or down")
    back = request.POST.get("next", "")
    shown = {"decision_id": decision_id, "next": back}
    try:
        feedback = feedback_record(api_key=get_chat_key_for_user(request.user), user=request.user,
                                   decision_id=decision_id, rating=RATINGS[rating],
                                   comment=request.POST.get("comment", "").strip()[:2000])
    except OptiRouteError as exc:
        return render(request, "feedback/rating.html", {**shown, "error": exc.message}, status=exc.status)
    if not request.headers.get("HX-Request"):  # a plain form post (no JavaScript): back to the conversation
        return redirect(back if url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}) else "chat")
    return render(request, "feedback/rating.html", {**shown, "feedback": feedback})


@staff_member_required
def feedback_console(request: HttpRequest) -> HttpResponse:
    days = request.GET.get("days", "7")
    if days not in {str(d) for d in RANGES_DAYS}:
        return HttpResponseBadRequest(f"days must be one of {', '.join(map(str, RANGES_DAYS))}")
    return render(request, "feedback/changes.html", {
        "changes": feedback_changes(), "cap": settings.FEEDBACK_RATER_CAP, "ranges": RANGES_DAYS,
        "exploration": exploration_summary(days=int(days)), "exploration_setting": settings.EXPLORATION_SHARE})


@staff_member_required
@require_POST
def feedback_reset_view(request: HttpRequest) -> HttpResponse:
    llm_id = request.POST.get("llm_id", "").strip()
    if not llm_id.isdigit():
        raise Http404("no such model")
    llm = get_object_or_404(LLM, pk=int(llm_id))
    task_type, domain = request.POST.get("task_type", ""), request.POST.get("domain", "")
    reset = feedback_reset(llm_id=llm.pk, task_type=task_type, domain=domain)
    messages.success(request, f"Reset {reset} rating(s) of {llm.name} on {task_type or 'every task type'}.")
    return redirect("feedback-console")
