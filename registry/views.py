from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from optiroute.http import HtmxHttpRequest
from registry.forms import ImportUploadForm, LLMForm, ProviderForm
from registry.importers import EvaluationImportError
from registry.models import LLM, Dataset, ImportJob, ObservedLatency, Provider
from registry.services import import_job_create

# Routing reloads the registry's models every 5 s (routing's snapshot): the pages say so.
ROUTING_SECONDS = 5


def get_import_job_for_user(user: object, pk: int) -> ImportJob:
    # Staff see every job: the console is the ML engineers' shared workspace.
    return get_object_or_404(ImportJob, pk=pk)


@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    models = LLM.objects.select_related("provider").order_by("-is_active", "name")
    datasets = Dataset.objects.order_by("name")
    providers = Provider.objects.order_by("name").annotate(n_models=Count("models"))
    return render(request, "registry/dashboard.html", {"models": models, "datasets": datasets, "providers": providers})


@staff_member_required
def import_list(request: HttpRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = import_job_create(user=request.user, dataset_name=form.cleaned_data["dataset"],
                                    fmt=form.cleaned_data["format"], files=form.cleaned_data["files"],
                                    create_models=form.cleaned_data["create_models"])
        except EvaluationImportError as exc:
            form.add_error("files", exc.message)
        else:
            return redirect("registry:import-detail", pk=job.pk)
    jobs = ImportJob.objects.select_related("created_by")[:50]
    status = 400 if form.errors else 200
    return render(request, "registry/imports.html", {"form": form, "jobs": jobs}, status=status)


@staff_member_required
def import_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    job = get_import_job_for_user(request.user, pk)
    template = "registry/imports.html#job" if request.htmx else "registry/import_detail.html"
    return render(request, template, {"job": job})


@staff_member_required
def model_create(request: HttpRequest) -> HttpResponse:
    form = LLMForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        llm = form.save()
        messages.success(request, f"Model {llm.name} registered; routing considers it within {ROUTING_SECONDS} s.")
        return redirect("registry:model", pk=llm.pk)
    return render(request, "registry/model.html", {"form": form, "llm": None}, status=400 if form.errors else 200)


@staff_member_required
def model_edit(request: HttpRequest, pk: int) -> HttpResponse:
    llm = get_object_or_404(LLM.objects.select_related("provider"), pk=pk)
    form = LLMForm(request.POST or None, instance=llm)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Model {llm.name} saved; routing uses the change within {ROUTING_SECONDS} s.")
        return redirect("registry:model", pk=llm.pk)
    observed = {"figures": ObservedLatency.objects.filter(llm=llm).first(),
                "min_calls": settings.OPTIROUTE_OBSERVED_MIN_CALLS, "window": settings.OPTIROUTE_OBSERVED_WINDOW,
                "hours": settings.OPTIROUTE_OBSERVED_HOURS}
    return render(request, "registry/model.html", {"form": form, "llm": llm, "observed": observed},
                  status=400 if form.errors else 200)


@staff_member_required
@require_POST
def model_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    llm = get_object_or_404(LLM, pk=pk)
    llm.is_active = False
    llm.save(update_fields=["is_active", "updated_at"])
    messages.success(request, f"Model {llm.name} deactivated; routing stops choosing it within {ROUTING_SECONDS} s.")
    return redirect("registry:dashboard")


@staff_member_required
def provider_create(request: HttpRequest) -> HttpResponse:
    form = ProviderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        provider = form.save()
        messages.success(request, f"Provider {provider.name} registered; register its models next.")
        return redirect("registry:provider", pk=provider.pk)
    return render(request, "registry/provider.html", {"form": form, "provider": None},
                  status=400 if form.errors else 200)


@staff_member_required
def provider_edit(request: HttpRequest, pk: int) -> HttpResponse:
    provider = get_object_or_404(Provider, pk=pk)
    form = ProviderForm(request.POST or None, instance=provider)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Provider {provider.name} saved; routing uses the change within {ROUTING_SECONDS} s.")
        return redirect("registry:provider", pk=provider.pk)
    return render(request, "registry/provider.html", {"form": form, "provider": provider},
                  status=400 if form.errors else 200)
