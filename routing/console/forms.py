"""The console's forms: cohorts and profiles as form fields, validated by routing.rules (no raw JSON)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from registry.models import LLM, Dataset
from routing.console.overview import PROVIDER_ERROR
from routing.models import SLIDERS, Cohort, Decision, EvaluationRun, PreferenceProfile
from routing.rules import constraint_problems, weight_problems

# The hard constraints a cohort's form edits; any other stored key (e.g. an allowed_models
# constraint set through the API's schema) is kept as it was.
CASCADE_LABEL = "Check a cheap answer first (cascade)"
CASCADE_HINT = ("Adds the latency of the cheap calls; escalates to the model routing prefers when a check of the "
                "cheap answer fails. A request may still turn it on or off.")
CONSTRAINT_FIELDS = ["max_cost_usd", "max_latency_ms", "min_context_window", "denied_models", "licenses", "local_only"]


def _license_choices() -> list[tuple[str, str]]:
    names = LLM.objects.exclude(license="").order_by("license").values_list("license", flat=True).distinct()
    return [(name, name) for name in names]


def _model_name_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in LLM.objects.order_by("name").values_list("name", flat=True)]


class CohortForm(forms.ModelForm):  # type: ignore[type-arg]
    max_cost_usd = forms.FloatField(required=False, min_value=0, label="Max cost per call (USD)",
                                    help_text="Models expected to cost more per call are never chosen.")
    max_latency_ms = forms.FloatField(required=False, min_value=0, label="Max latency (ms)")
    min_context_window = forms.IntegerField(required=False, min_value=1, label="Min context window (tokens)")
    denied_models = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                              choices=_model_name_choices, label="Never route to")
    licenses = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple, choices=_license_choices,
                                         label="Allowed licenses", help_text="None ticked: any license.")
    local_only = forms.BooleanField(required=False, label="Local models only")
    allowed_models = forms.ModelMultipleChoiceField(
        LLM.objects.select_related("provider").order_by("-is_active", "name"), required=False,
        widget=forms.CheckboxSelectMultiple, label="Model pool", help_text="None ticked: every active model.")
    baseline_model = forms.ModelChoiceField(
        LLM.objects.order_by("name"), required=False,
        help_text="Savings are measured against what this model would have cost.")
    members = forms.ModelMultipleChoiceField(get_user_model().objects.order_by("username"), required=False,
                                             widget=forms.CheckboxSelectMultiple,
                                             help_text="People whose browser chat runs on this cohort's terms.")

    class Meta:
        model = Cohort
        fields = ["name", "default_profile", "allowed_models", "baseline_model", "monthly_budget_usd",
                  "requests_per_minute", "tokens_per_minute", "prompt_retention", "retention_days", "members", "cascade"]
        labels = {"cascade": CASCADE_LABEL, "monthly_budget_usd": "Monthly budget (USD)",
                  "requests_per_minute": "Requests a minute",
                  "tokens_per_minute": "Tokens a minute", "prompt_retention": "Prompts and answers",
                  "retention_days": "Retention (days)"}
        help_texts = {"cascade": CASCADE_HINT, "monthly_budget_usd": "Empty: no budget. Calls are refused once it is spent.",
                      "requests_per_minute": "Over all the cohort's keys; over it, calls get 429. "
                                             "Empty: the deployment's default (OPTIROUTE_RATE_LIMIT_DEFAULT).",
                      "tokens_per_minute": "Prompt and answer tokens over all the cohort's keys. Empty: the default.",
                      "prompt_retention": "After the retention period: keep, keep only a hash, or drop the text "
                                          "of conversations and batches (and the embedding of decisions).",
                      "retention_days": "Checked every hour."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("prompt_retention", "retention_days"):  # a form without them keeps what is set
            self.fields[name].required = False
        for key in CONSTRAINT_FIELDS:
            if key in self.instance.constraints:
                self.initial[key] = self.instance.constraints[key]

    def clean_prompt_retention(self) -> str:
        return str(self.cleaned_data.get("prompt_retention") or self.instance.prompt_retention)

    def clean_retention_days(self) -> int:
        return int(self.cleaned_data.get("retention_days") or self.instance.retention_days)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        pool = list(cleaned.get("allowed_models") or [])
        if pool and not any(llm.is_active for llm in pool):
            self.add_error("allowed_models", "No model in this pool is active: every request would fail. "
                                             "Tick an active model, or none for every active model.")
        baseline = cleaned.get("baseline_model")
        if pool and baseline is not None and baseline not in pool:
            self.add_error("baseline_model", f"{baseline.name} is not in the model pool; pick a model from the pool.")
        constraints = self.constraints_from(cleaned)
        for problem in constraint_problems(constraints):
            self.add_error(None, problem)
        self.instance.constraints = constraints
        return cleaned

    def constraints_from(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        kept = {key: value for key, value in self.instance.constraints.items() if key not in CONSTRAINT_FIELDS}
        for key in CONSTRAINT_FIELDS:
            value = cleaned.get(key)
            if value not in (None, [], False, ""):
                kept[key] = value
        return kept


class ProfileForm(forms.ModelForm):  # type: ignore[type-arg]
    """The eight slider weights as range inputs from 0 to 1."""

    class Meta:
        model = PreferenceProfile
        fields = ["description", "cascade"]
        labels = {"cascade": CASCADE_LABEL}
        help_texts = {"cascade": CASCADE_HINT}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        weights = self.instance.full_weights() if self.instance.pk else {}
        for slider in SLIDERS:
            self.fields[slider] = forms.FloatField(
                min_value=0, max_value=1, initial=weights.get(slider, 0.0), label=slider.capitalize(),
                widget=forms.NumberInput(attrs={"type": "range", "min": "0", "max": "1", "step": "0.05"}))

    def sliders(self) -> list[forms.BoundField]:
        return [self[slider] for slider in SLIDERS]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        weights = {slider: cleaned[slider] for slider in SLIDERS if cleaned.get(slider) is not None}
        for problem in weight_problems(weights):
            self.add_error(None, problem)
        self.instance.weights = weights
        return cleaned


class DecisionFilterForm(forms.Form):
    """The decision log's filters; `filter` narrows a queryset to the rows they describe."""

    FEEDBACK = [("", "any"), ("up", "rated up"), ("down", "rated down"), ("none", "not rated")]
    FALLBACK = [("", "any"), ("yes", "fell back"), ("no", "no fallback"), ("error", "a provider failed")]

    cohort = forms.ChoiceField(required=False)
    model = forms.ChoiceField(required=False, help_text="Chosen or answering model.")
    profile = forms.ChoiceField(required=False)
    mode = forms.ChoiceField(required=False, choices=[("", "any"), *Decision.Mode.choices])
    fallback = forms.ChoiceField(required=False, choices=FALLBACK)
    feedback = forms.ChoiceField(required=False, choices=FEEDBACK)
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["cohort"].choices = _any(Cohort.objects.order_by("name").values_list("name", flat=True))  # type: ignore[attr-defined]
        self.fields["model"].choices = _any(LLM.objects.order_by("name").values_list("name", flat=True))  # type: ignore[attr-defined]
        profiles = Decision.objects.exclude(profile="").order_by("profile").values_list("profile", flat=True)
        self.fields["profile"].choices = _any(profiles.distinct())  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned

    def filter(self, decisions: QuerySet[Decision]) -> QuerySet[Decision]:
        data = self.cleaned_data if self.is_valid() else {}
        lookups = {"cohort": "cohort__name", "profile": "profile", "mode": "mode",
                   "since": "created_at__date__gte", "until": "created_at__date__lte"}
        decisions = decisions.filter(**{lookup: data[key] for key, lookup in lookups.items() if data.get(key)})
        if data.get("model"):
            decisions = decisions.filter(Q(chosen_model__name=data["model"]) | Q(answered_by__name=data["model"]))
        fallback = {"yes": ~Q(fallback_reason=""), "no": Q(fallback_reason=""), "error": PROVIDER_ERROR}
        if data.get("fallback"):
            decisions = decisions.filter(fallback[data["fallback"]])
        feedback = {"up": Q(feedback__rating=1), "down": Q(feedback__rating=-1), "none": Q(feedback__isnull=True)}
        if data.get("feedback"):
            decisions = decisions.filter(feedback[data["feedback"]]).distinct()
        return decisions


def _any(names: Iterable[str]) -> list[tuple[str, str]]:
    return [("", "any"), *((name, name) for name in names)]


class OverviewForm(forms.Form):
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    cohort = forms.ModelChoiceField(Cohort.objects.order_by("name"), required=False, to_field_name="name",
                                    empty_label="all cohorts")

    DEFAULT_DAYS = 14
    MAX_DAYS = 366

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The date inputs show the range the page shows, not empty boxes.
        until = timezone.localdate()
        self.initial.setdefault("until", until)
        self.initial.setdefault("since", until - dt.timedelta(days=self.DEFAULT_DAYS - 1))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        until = cleaned.get("until") or timezone.localdate()
        since = cleaned.get("since") or until - dt.timedelta(days=self.DEFAULT_DAYS - 1)
        if since > until:
            self.add_error("until", "The end date is before the start date.")
        elif (until - since).days >= self.MAX_DAYS:
            self.add_error("since", f"Choose a range of at most {self.MAX_DAYS} days.")
        cleaned.update(since=since, until=until)
        return cleaned

    def range(self) -> tuple[dt.date, dt.date, Cohort | None]:
        """The chosen range and cohort; the default (last 14 days, every cohort) when they are invalid."""
        if self.is_valid():
            return self.cleaned_data["since"], self.cleaned_data["until"], self.cleaned_data["cohort"]
        until = timezone.localdate()
        return until - dt.timedelta(days=self.DEFAULT_DAYS - 1), until, None


def _batch_model_choices() -> list[tuple[str, str]]:
    profiles = PreferenceProfile.objects.order_by("name").values_list("name", flat=True)
    models = LLM.objects.filter(is_active=True).order_by("name").values_list("name", flat=True)
    return [("optiroute/auto", "Routing, the cohort's default profile"),
            *((f"optiroute/{p}", f"Routing, profile {p}") for p in profiles),
            *((m, f"Model {m}") for m in models)]


class BatchRowsForm(forms.Form):
    """A file of up to 10,000 requests: a batch's first chunk, or one appended to it."""

    file = forms.FileField(label="Requests file", help_text="")
    more_to_come = forms.BooleanField(required=False, label="More files follow",
                                      help_text="Keep the batch open for another file of rows; its model is "
                                                "chosen once a file comes without this.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from routing.batches.uploads import FORMATS_HELP, MAX_UPLOAD_BYTES

        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = f"{FORMATS_HELP[0].upper()}{FORMATS_HELP[1:]}; up to " \
                                        f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB and 10,000 rows a file."

    def clean_file(self) -> list[dict[str, Any]]:
        from optiroute.api_errors import OptiRouteError
        from routing.batches.uploads import batch_upload_read, upload_size_check

        upload = self.cleaned_data["file"]
        try:
            upload_size_check(name=upload.name, size=upload.size)  # before it is read into memory
            return batch_upload_read(name=upload.name, data=upload.read())
        except OptiRouteError as exc:
            raise forms.ValidationError(exc.message) from None


class BatchUploadForm(BatchRowsForm):
    """A batch as a file of requests, with how to choose its model and what it may spend."""

    model = forms.ChoiceField(choices=_batch_model_choices, initial="optiroute/auto", label="Model",
                              help_text="Routing proposes one model from a sample of the requests; "
                                        "or name the model yourself.")
    max_cost_usd = forms.FloatField(required=False, min_value=0, label="Max cost per request (USD)",
                                    help_text="Models expected to cost more per request are not proposed.")
    max_latency_ms = forms.FloatField(required=False, min_value=0, label="Max latency (ms)")
    local_only = forms.BooleanField(required=False, label="Local models only")
    budget_usd = forms.FloatField(required=False, min_value=0, label="Total budget (USD)",
                                  help_text="The batch stops before its spending passes this. Empty: no limit "
                                            "beyond the cohort's monthly budget.")
    max_tokens = forms.IntegerField(required=False, min_value=1, max_value=1_000_000, label="Max tokens per answer",
                                    help_text="For rows whose file sets none.")
    auto_run = forms.BooleanField(required=False, label="Run at once",
                                  help_text="Start answering with the proposed model without waiting for "
                                            "a confirmation.")
    selection_mode = forms.ChoiceField(
        choices=[("evidence", "Evidence (no calls)"), ("graded", "Graded answers on the sample")],
        initial="evidence", required=False, label="Judge the candidates by",
        help_text="Evidence: the registry's estimates on the sample. Graded: the top candidates answer the sample "
                  "and are graded against the file's reference answers (paid, and those answers are kept).")
    per_cluster = forms.BooleanField(required=False, label="One model per cluster",
                                     help_text="Answer each cluster of similar requests with its own best model "
                                               "on the sample.")
    field_order = ["file", "model", "max_cost_usd", "max_latency_ms", "local_only", "budget_usd", "max_tokens",
                   "auto_run", "more_to_come", "selection_mode", "per_cluster"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        rows = data.get("file") or []
        if data.get("selection_mode") == "graded" and rows and not data.get("more_to_come") \
                and not any(row.get("reference") for row in rows):
            self.add_error("selection_mode", "Graded needs reference answers: a reference column (CSV) or key "
                                             "(JSONL) filled for some rows.")
        return data

    def batch_arguments(self) -> dict[str, Any]:
        """batch_create's keyword arguments (but the key)."""
        data = self.cleaned_data
        constraints = {name: data[name] for name in ("max_cost_usd", "max_latency_ms") if data[name] is not None}
        if data["local_only"]:
            constraints["local_only"] = True
        options: dict[str, Any] = {"constraints": constraints}
        mode = data["selection_mode"] or "evidence"
        if mode != "evidence" or data["per_cluster"]:
            options["selection"] = {"mode": mode, "per_cluster": data["per_cluster"]}
        return {"model": data["model"], "requests": data["file"], "options": options,
                "auto_run": data["auto_run"], "budget_usd": data["budget_usd"], "max_tokens": data["max_tokens"],
                "more_to_come": data["more_to_come"]}


class EvaluationDatasetForm(forms.Form):
    """The dataset a background evaluation runs on: it needs a train split (evidence) and a test split."""

    dataset = forms.ModelChoiceField(Dataset.objects.order_by("name"), to_field_name="name",
                                     empty_label=None, label="Dataset",
                                     error_messages={"invalid_choice": "There is no dataset of that name."})

    def clean_dataset(self) -> Dataset:
        dataset: Dataset = self.cleaned_data["dataset"]
        splits = set(dataset.prompts.values_list("split", flat=True).distinct())
        missing = [split for split in ("train", "test") if split not in splits]
        if missing:
            raise forms.ValidationError(
                f"{dataset.name} has no {' or '.join(missing)} prompts: the harness takes its evidence from the "
                "train split and scores the router on the test split.")
        return dataset


class CompareForm(forms.Form):
    """Two finished router evaluations, side by side."""

    run = forms.ModelMultipleChoiceField(EvaluationRun.objects.reports(), label="Reports",
                                         error_messages={"invalid_choice": "Report %(value)s is not a finished evaluation.",
                                                         "invalid_pk_value": "%(pk)s is not a report number."})

    def clean_run(self) -> list[EvaluationRun]:
        runs = sorted(self.cleaned_data["run"], key=lambda run: run.created_at)
        if len(runs) != 2:
            raise forms.ValidationError(f"Tick exactly two reports to compare ({len(runs)} ticked).")
        return runs


class KeyForm(forms.Form):
    """A new API key of a cohort: its label and, if it has its own, its rate limits."""

    label = forms.CharField(required=False, max_length=200, strip=True)
    requests_per_minute = forms.IntegerField(required=False, min_value=1, label="Requests a minute")
    tokens_per_minute = forms.IntegerField(required=False, min_value=1, label="Tokens a minute")
