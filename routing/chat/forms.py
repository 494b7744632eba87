"""The chat's message and a conversation's routing settings: profile, the eight sliders, hard
constraints over the cohort's pool, and a model pinned for the next message."""

from __future__ import annotations

from typing import Any

from django import forms

from registry.models import LLM
from routing.cascade.runtime import cascade_defaults
from routing.engine.constraints import Constraints
from routing.models import SLIDERS, Cohort, PreferenceProfile

AUTO = "auto"


class SettingsForm(forms.Form):
    message = forms.CharField(max_length=20_000, strip=True, required=False, label="Your message",
                              widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Ask anything…"}))
    profile = forms.ChoiceField(label="Profile", required=False)
    max_cost_usd = forms.FloatField(label="Max cost per request (USD)", required=False, min_value=0,
                                    widget=forms.NumberInput(attrs={"step": "0.0001", "placeholder": "no limit"}))
    local_only = forms.BooleanField(label="Local models only", required=False)
    licenses = forms.MultipleChoiceField(label="Allowed licences", required=False,
                                         widget=forms.CheckboxSelectMultiple)
    allowed_models = forms.MultipleChoiceField(label="Only these models", required=False,
                                               widget=forms.CheckboxSelectMultiple)
    denied_models = forms.MultipleChoiceField(label="Never these models", required=False,
                                              widget=forms.CheckboxSelectMultiple)
    pinned = forms.ChoiceField(label="Pin a model for the next message", required=False)
    cascade = forms.BooleanField(label="Check a cheap answer first", required=False,
                                 help_text="A cheap model answers first and a stronger one only when a check of "
                                           "that answer fails; it adds the time of the cheap calls.")

    def __init__(self, *args: Any, cohort: Cohort, settings: dict[str, Any] | None = None, **kwargs: Any) -> None:
        profiles = list(PreferenceProfile.objects.order_by("name"))
        self.profiles = {p.name: p.full_weights() for p in profiles}
        default = cohort.default_profile.name if cohort.default_profile else "balanced"
        self.profiles[AUTO] = self.profiles.get(default, {s: 0.0 for s in SLIDERS})
        # Whether each profile cascades by default on this cohort: the box shows it until changed.
        self.cascades = cascade_defaults(cohort=cohort, profiles=profiles)
        self.cascades[AUTO] = self.cascades.get(default, cohort.cascade)
        settings = settings or {}
        kwargs.setdefault("initial", _initial(settings, self.profiles, default, self.cascades))
        super().__init__(*args, **kwargs)
        pool = [m.name for m in pool_for(cohort)]
        self._choices("profile", [(n, n) for n in self.profiles if n != AUTO] + [(AUTO, f"auto (my cohort's: {default})")])
        self._choices("allowed_models", [(n, n) for n in pool])
        self._choices("denied_models", [(n, n) for n in pool])
        self._choices("pinned", [("", "no: route it")] + [(n, n) for n in pool])
        self._choices("licenses", [(x, x) for x in sorted({m.license for m in pool_for(cohort) if m.license})])
        for slider in SLIDERS:
            self.fields[slider] = forms.FloatField(
                label=slider, required=False, min_value=0, max_value=1,
                widget=forms.NumberInput(attrs={"type": "range", "min": 0, "max": 1, "step": 0.05}))
            self.fields[slider].initial = self.initial.get(slider)

    def _choices(self, name: str, choices: list[tuple[str, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def sliders(self) -> list[forms.BoundField]:
        return [self[s] for s in SLIDERS]

    def overridden(self) -> set[str]:
        """The sliders whose value differs from the chosen profile's (as shown)."""
        values = self.initial if not self.is_bound else {s: self[s].value() for s in SLIDERS}
        profile = self.profiles.get(str(self["profile"].value() or AUTO), {})
        return {s for s in SLIDERS if values.get(s) not in (None, "") and abs(float(values[s]) - profile.get(s, 0)) > 1e-9}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["profile"] = data.get("profile") or AUTO
        return data

    def conversation_settings(self) -> dict[str, Any]:
        """What the conversation keeps: only overridden sliders, only constraints that are set."""
        data = self.cleaned_data
        weights = self.profiles[data["profile"]]
        preferences = {s: data[s] for s in SLIDERS if data.get(s) is not None and abs(data[s] - weights.get(s, 0)) > 1e-9}
        constraints = Constraints(max_cost_usd=data.get("max_cost_usd"), local_only=bool(data.get("local_only")),
                                  licenses=tuple(data.get("licenses") or ()),
                                  allowed_models=tuple(data.get("allowed_models") or ()),
                                  denied_models=tuple(data.get("denied_models") or ())).as_dict()
        # Only a choice that differs from the profile's and cohort's default is kept, as with sliders.
        cascade = {"cascade": data["cascade"]} if data["cascade"] != self.cascades.get(data["profile"]) else {}
        return {"profile": data["profile"], "preferences": preferences, "constraints": constraints,
                "pinned": data.get("pinned") or "", **cascade}


class ChatForm(SettingsForm):
    def clean_message(self) -> str:
        text = self.cleaned_data.get("message") or ""
        if not text:
            raise forms.ValidationError("Write a message first.")
        return text


class RenameForm(forms.Form):
    title = forms.CharField(max_length=200, strip=True, label="Title")


def pool_for(cohort: Cohort) -> list[LLM]:
    """The models this cohort's people may use: its pool (else every active model), less its denials."""
    models = LLM.objects.active().select_related("provider").order_by("name")
    if cohort.allowed_models.exists():
        models = models.filter(id__in=cohort.allowed_models.all())
    denied = set(Constraints.of_cohort(cohort).denied_models)
    return [m for m in models if m.name not in denied]


def _initial(settings: dict[str, Any], profiles: dict[str, dict[str, float]], default: str,
             cascades: dict[str, bool]) -> dict[str, Any]:
    profile = settings.get("profile") or (default if default in profiles else AUTO)
    weights = {**profiles.get(profile, {}), **(settings.get("preferences") or {})}
    constraints = settings.get("constraints") or {}
    return {"profile": profile, **weights, **{k: constraints.get(k) for k in (
        "max_cost_usd", "local_only", "licenses", "allowed_models", "denied_models")}, "pinned": settings.get("pinned", ""),
        "cascade": settings.get("cascade", cascades.get(profile, False))}
