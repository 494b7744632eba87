"""The console's batch pages: upload a batch, follow it, confirm its proposal, cancel, resume, download."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from optiroute.api_errors import OptiRouteError
from optiroute.http import HtmxHttpRequest
from routing.access.keys import get_chat_key_for_user
from routing.batches.export import results_download
from routing.batches.services import (
    batch_cancel,
    batch_confirm,
    batch_create,
    batch_items_append,
    batch_resume,
    batch_summary,
)
from routing.console.forms import BatchRowsForm, BatchUploadForm
from routing.gateway.chat import PROFILE_PREFIX
from routing.models import Batch, BatchItem

RECENT_BATCHES = 50
ACTIONS = {"confirm": batch_confirm, "cancel": batch_cancel, "resume": batch_resume}


def get_batch_for_user(user: object, pk: uuid.UUID) -> Batch:
    # Staff see every batch: the console is the ML engineers' shared workspace.
    return get_object_or_404(Batch.objects.select_related("cohort", "chosen_model", "api_key"), pk=pk)


@staff_member_required
def batch_list(request: HtmxHttpRequest) -> HttpResponse:
    form = BatchUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            # Runs on the engineer's own key (in their cohort), as their browser chat does.
            batch = batch_create(api_key=get_chat_key_for_user(request.user), **form.batch_arguments())
        except OptiRouteError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Batch of {batch.total} requests stored; " + _next_step(batch))
            return redirect("console-batch", pk=batch.pk)
    batches = Batch.objects.select_related("cohort", "chosen_model").order_by("-created_at")[:RECENT_BATCHES]
    return render(request, "console/batches.html", {"form": form, "batches": batches},
                  status=400 if form.errors else 200)


def _next_step(batch: Batch) -> str:
    if batch.awaiting_more:
        return "add the next file of rows; the model is chosen after the last one."
    if not batch.model.startswith(PROFILE_PREFIX):
        return f"{batch.model}, the model it names, answers every row (no sample chooses one)."
    return "a sample of it is choosing the model."


@staff_member_required
def batch_detail(request: HtmxHttpRequest, pk: uuid.UUID) -> HttpResponse:
    batch = get_batch_for_user(request.user, pk)
    rows_form = BatchRowsForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and rows_form.is_valid():
        try:
            batch = batch_items_append(batch=batch, requests=rows_form.cleaned_data["file"],
                                       more_to_come=rows_form.cleaned_data["more_to_come"])
        except OptiRouteError as exc:
            rows_form.add_error(None, exc.message)
        else:
            messages.success(request, f"Rows added: the batch holds {batch.total} requests; " + _next_step(batch))
            return redirect("console-batch", pk=batch.pk)
    failed = batch.items.filter(status=BatchItem.Status.FAILED).order_by("position")[:20]
    template = "console/batch.html#progress" if request.htmx else "console/batch.html"
    return render(request, template, {"batch": batch, "s": batch_summary(batch), "failed": failed,
                                      "rows_form": rows_form}, status=400 if rows_form.errors else 200)


@staff_member_required
@require_POST
def batch_action(request: HtmxHttpRequest, pk: uuid.UUID, action: str) -> HttpResponse:
    batch = get_batch_for_user(request.user, pk)
    try:
        ACTIONS[action](batch=batch)
    except OptiRouteError as exc:
        messages.error(request, exc.message)
    return redirect("console-batch", pk=batch.pk)


@staff_member_required
def batch_download(request: HtmxHttpRequest, pk: uuid.UUID, kind: str) -> StreamingHttpResponse:
    return results_download(get_batch_for_user(request.user, pk), kind)
