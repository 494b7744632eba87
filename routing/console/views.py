"""The console's decision pages, for ML engineers (staff)."""

from __future__ import annotations

import uuid

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render

from optiroute.http import HtmxHttpRequest
from routing.models import Cohort, Decision


def get_decision_for_user(user: object, pk: uuid.UUID) -> Decision:
    # Staff see every decision: the console is the ML engineers' shared workspace.
    return get_object_or_404(Decision.objects.select_related("cohort", "chosen_model", "answered_by", "usage"), pk=pk)


@staff_member_required
def decision_list(request: HtmxHttpRequest) -> HttpResponse:
    decisions = Decision.objects.select_related("cohort", "chosen_model", "answered_by").order_by("-created_at")
    mode, cohort = request.GET.get("mode", ""), request.GET.get("cohort", "")
    if mode:
        decisions = decisions.filter(mode=mode)
    if cohort:
        decisions = decisions.filter(cohort__name=cohort)
    return render(request, "routing/decisions.html", {
        "decisions": decisions[:100], "mode": mode, "cohort": cohort, "modes": Decision.Mode.values,
        "cohorts": Cohort.objects.order_by("name").values_list("name", flat=True)})


@staff_member_required
def decision_detail(request: HtmxHttpRequest, pk: uuid.UUID) -> HttpResponse:
    decision = get_decision_for_user(request.user, pk)
    return render(request, "routing/decision_detail.html", {"d": decision, "usage": getattr(decision, "usage", None)})
