"""The console's routing pages, for ML engineers (staff): decisions, cohorts and their keys, profiles."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet, Sum
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from optiroute.http import HtmxHttpRequest
from registry.models import LLM
from routing.access.auth import KEY_CACHE_SECONDS
from routing.access.keys import api_key_create
from routing.console.charts import P_WIDTH, pareto_chart, stacked_bars
from routing.console.datasets import datasets_statistics
from routing.console.decisions import constraint_phrases, weights_in_order
from routing.console.evaluations import comparison_rows, profile_summary, report_rows, strategy_rows
from routing.console.export import decisions_csv
from routing.console.forms import (
    CohortForm,
    CompareForm,
    DecisionFilterForm,
    EvaluationDatasetForm,
    KeyForm,
    OverviewForm,
    ProfileForm,
)
from routing.console.overview import overview_build
from routing.console.test_call import llm_test_call
from routing.evaluation.services import evaluation_run_create
from routing.models import SLIDERS, ApiKey, Cohort, Decision, EvaluationRun, PreferenceProfile, Usage

# Routing reads cohorts through the API-key cache and profiles through the registry snapshot,
# both refreshed every 5 s: the pages say so.
CONSISTENCY_SECONDS = int(KEY_CACHE_SECONDS)
DECISIONS_PER_PAGE = 50
PROFILE_CHART_WIDTH = 580


def get_decision_for_user(user: object, pk: uuid.UUID) -> Decision:
    # Staff see every decision: the console is the ML engineers' shared workspace.
    return get_object_or_404(Decision.objects.select_related("cohort", "chosen_model", "answered_by", "usage"), pk=pk)


def get_cohort_for_user(user: object, pk: int) -> Cohort:
    return get_object_or_404(Cohort, pk=pk)


def decisions_filtered(request: HtmxHttpRequest) -> tuple[DecisionFilterForm, QuerySet[Decision]]:
    form = DecisionFilterForm(request.GET or None)
    decisions = Decision.objects.select_related("cohort", "chosen_model", "answered_by", "usage").annotate(
        ups=Count("feedback", filter=Q(feedback__rating=1)), downs=Count("feedback", filter=Q(feedback__rating=-1)))
    return form, form.filter(decisions).order_by("-created_at")


@staff_member_required
def overview(request: HtmxHttpRequest) -> HttpResponse:
    form = OverviewForm(request.GET or None)
    since, until, cohort = form.range()
    built = overview_build(since=since, until=until, cohort=cohort)
    return render(request, "console/overview.html", {
        "form": form, "o": built, "chart": stacked_bars(built.decisions_per_day, built.days),
        "answered_chart": stacked_bars(built.answered_per_day, built.days),
        "q": urlencode(built.filters())}, status=400 if form.errors else 200)


@staff_member_required
def decision_list(request: HtmxHttpRequest) -> HttpResponse:
    form, decisions = decisions_filtered(request)
    page = Paginator(decisions, DECISIONS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    template = "routing/decisions.html#log" if request.htmx else "routing/decisions.html"
    return render(request, template, {"form": form, "page": page, "query": query.urlencode()},
                  status=400 if form.errors else 200)


@staff_member_required
def decision_export(request: HtmxHttpRequest) -> StreamingHttpResponse:
    _, decisions = decisions_filtered(request)
    response = StreamingHttpResponse(decisions_csv(decisions.iterator(chunk_size=500)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="decisions-{timezone.now():%Y%m%d-%H%M}.csv"'
    return response


@staff_member_required
def decision_detail(request: HtmxHttpRequest, pk: uuid.UUID) -> HttpResponse:
    decision = get_decision_for_user(request.user, pk)
    return render(request, "routing/decision_detail.html", {
        "d": decision, "usage": getattr(decision, "usage", None), "ratings": decision.feedback.order_by("-updated_at"),
        "weights": weights_in_order(decision), "constraints": constraint_phrases(decision.constraints)})


@staff_member_required
def cohort_list(request: HtmxHttpRequest) -> HttpResponse:
    now = timezone.now()
    this_month = Q(usage__created_at__year=now.year, usage__created_at__month=now.month)
    cohorts = Cohort.objects.select_related("default_profile", "baseline_model").order_by("name").annotate(
        pool_size=Count("allowed_models", distinct=True),
        keys=Count("api_keys", filter=Q(api_keys__revoked_at__isnull=True, api_keys__user__isnull=True), distinct=True),
        spent=Sum("usage__cost_usd", filter=this_month))
    return render(request, "console/cohorts.html", {"cohorts": cohorts})


@staff_member_required
def cohort_create(request: HtmxHttpRequest) -> HttpResponse:
    form = CohortForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        cohort = form.save()
        messages.success(request, f"Cohort {cohort.name} created; routing uses it within {CONSISTENCY_SECONDS} s.")
        return redirect("cohort", pk=cohort.pk)
    return render(request, "console/cohort.html", _cohort_context(form, None), status=400 if form.errors else 200)


@staff_member_required
def cohort_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    cohort = get_cohort_for_user(request.user, pk)
    form = CohortForm(request.POST or None, instance=cohort)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Cohort {cohort.name} saved; routing uses the change within {CONSISTENCY_SECONDS} s.")
        return redirect("cohort", pk=cohort.pk)
    return render(request, "console/cohort.html", _cohort_context(form, cohort), status=400 if form.errors else 200)


@staff_member_required
@require_POST
def cohort_key_create(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    cohort = get_cohort_for_user(request.user, pk)
    form = KeyForm(request.POST)
    if not form.is_valid():
        context = _cohort_context(CohortForm(instance=cohort), cohort) | {"key_errors": form.errors}
        return render(request, "console/cohort.html", context, status=400)
    key, raw = api_key_create(cohort_name=cohort.name, **form.cleaned_data)
    # The raw key exists only in this response: it is shown once and never stored.
    context = _cohort_context(CohortForm(instance=cohort), cohort) | {"new_key": key, "new_raw_key": raw}
    return render(request, "console/cohort.html", context, status=201)


@staff_member_required
@require_POST
def api_key_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=pk)
    if key.revoked_at is None:
        key.revoke()
    messages.success(request, f"Key {key.hint}… revoked; the API refuses it within {CONSISTENCY_SECONDS} s.")
    return redirect("cohort", pk=key.cohort_id)


def _cohort_context(form: CohortForm, cohort: Cohort | None) -> dict[str, Any]:
    keys = cohort.api_keys.filter(user__isnull=True).order_by("revoked_at", "-created_at") if cohort else []
    spent = Usage.objects.filter(cohort=cohort).this_month().spent_usd() if cohort else 0.0
    return {"form": form, "cohort": cohort, "keys": keys, "spent": spent, "window": CONSISTENCY_SECONDS}


@staff_member_required
def profile_list(request: HtmxHttpRequest) -> HttpResponse:
    profiles = PreferenceProfile.objects.order_by("name")
    return render(request, "console/profiles.html", {"profiles": profiles})


@staff_member_required
def profile_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    profile = get_object_or_404(PreferenceProfile, pk=pk)
    form = ProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Profile {profile.name} saved; routing uses it within {CONSISTENCY_SECONDS} s.")
        return redirect("profile", pk=profile.pk)
    return render(request, "console/profile.html", _profile_context(form, profile, EvaluationDatasetForm()),
                  status=400 if form.errors else 200)


@staff_member_required
@require_POST
def profile_evaluate(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Place the profile's weights as edited (not saved) on a dataset's quality-versus-cost chart."""
    profile = get_object_or_404(PreferenceProfile, pk=pk)
    form, placement = ProfileForm(request.POST, instance=profile), EvaluationDatasetForm(request.POST)
    if form.is_valid() and placement.is_valid():
        weights = {slider: form.cleaned_data[slider] for slider in SLIDERS}
        run = evaluation_run_create(user=request.user, dataset=placement.cleaned_data["dataset"], profile=profile,
                                    weights=weights)
        if not request.htmx:
            return redirect("profile", pk=profile.pk)
        return render(request, "console/profile.html#placement", _profile_context(form, profile, placement) | {
            "run": run}, status=201)
    template = "console/profile.html#placement" if request.htmx else "console/profile.html"
    return render(request, template, _profile_context(form, profile, placement), status=400)


def _profile_context(form: ProfileForm, profile: PreferenceProfile, placement: EvaluationDatasetForm) -> dict[str, Any]:
    run = profile.evaluation_runs.select_related("dataset").first()
    if run and placement.is_bound is False:
        placement = EvaluationDatasetForm(initial={"dataset": run.dataset.name})
    return {"form": form, "profile": profile, "window": CONSISTENCY_SECONDS, "placement": placement,
            **(_run_context(run) if run else {})}


def get_evaluation_run_for_user(user: object, pk: int) -> EvaluationRun:
    # Staff see every run: the console is the ML engineers' shared workspace.
    return get_object_or_404(EvaluationRun.objects.select_related("dataset", "profile", "created_by"), pk=pk)


def _run_context(run: EvaluationRun) -> dict[str, Any]:
    if run.status != EvaluationRun.Status.SUCCEEDED:
        return {"run": run}
    unsaved = run.profile is not None and run.weights != run.profile.full_weights()
    # A profile's chart sits in the narrower card beside the sliders.
    width = PROFILE_CHART_WIDTH if run.kind == EvaluationRun.Kind.PROFILE else P_WIDTH
    return {"run": run, "chart": pareto_chart([("", run.report)], profile=run.report.get("profile"), width=width),
            "summary": profile_summary(run.report), "baselines": report_rows(run.report),
            "strategies": strategy_rows(run.report), "unsaved": unsaved,
            "weights": [(slider, run.weights[slider]) for slider in SLIDERS if run.weights.get(slider)]}


@staff_member_required
def evaluation_list(request: HtmxHttpRequest) -> HttpResponse:
    form = EvaluationDatasetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        run = evaluation_run_create(user=request.user, dataset=form.cleaned_data["dataset"])
        return redirect("evaluation", pk=run.pk)
    runs = EvaluationRun.objects.filter(kind=EvaluationRun.Kind.ROUTER).select_related("dataset", "created_by")
    return render(request, "console/evaluations.html", {"form": form, "runs": runs[:100]},
                  status=400 if form.errors else 200)


@staff_member_required
def evaluation_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    run = get_evaluation_run_for_user(request.user, pk)
    template = "console/evaluation.html#run" if request.htmx else "console/evaluation.html"
    return render(request, template, _run_context(run))


@staff_member_required
def evaluation_compare(request: HtmxHttpRequest) -> HttpResponse:
    form = CompareForm(request.GET or None)
    if not form.is_valid():
        return render(request, "console/compare.html", {"form": form}, status=400 if form.errors else 200)
    a, b = form.cleaned_data["run"]
    chart = pareto_chart([(f"#{a.pk} ", a.report), (f"#{b.pk} ", b.report)])
    return render(request, "console/compare.html", {"form": form, "a": a, "b": b, "chart": chart,
                                                    "rows": comparison_rows(a.report, b.report)})


@staff_member_required
def dataset_list(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "console/datasets.html", {"datasets": datasets_statistics()})


@staff_member_required
@require_POST
def model_test_call(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    llm = get_object_or_404(LLM.objects.select_related("provider"), pk=pk)
    result = llm_test_call(llm=llm)
    template = "console/test_call.html#result" if request.htmx else "console/test_call.html"
    return render(request, template, {"llm": llm, "result": result})
