import re
from typing import Any

from django import forms
from django.core.validators import validate_slug

from registry.importers import FORMATS
from registry.models import LLM, Provider


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):  # type: ignore[no-untyped-def]
        items = data if isinstance(data, (list, tuple)) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in items if item] or \
            super().clean(None, initial)


class ImportUploadForm(forms.Form):
    dataset = forms.CharField(max_length=100, validators=[validate_slug],
                              help_text="Letters, digits, - and _. Re-using a name replaces that dataset.")
    format = forms.ChoiceField(choices=[(f, f) for f in FORMATS], initial="bundle")
    create_models = forms.BooleanField(required=False, help_text="Register models the results name but nothing describes.")
    files = MultipleFileField(  # type: ignore[assignment]  # a form field named like BaseForm.files
help_text="A zip of the bundle, or its files: prompts.jsonl, results.csv/jsonl, models.json.")


class LLMForm(forms.ModelForm):  # type: ignore[type-arg]
    """Register or edit a model: its provider, the provider's model id, prices and limits."""

    input_price_per_mtok = forms.FloatField(required=False, min_value=0, label="Input price (USD per Mtok)")
    output_price_per_mtok = forms.FloatField(required=False, min_value=0, label="Output price (USD per Mtok)")
    context_window = forms.IntegerField(required=False, min_value=1, label="Context window (tokens)")
    parameters_b = forms.FloatField(required=False, min_value=0, label="Parameters (billions)")
    latency_ms_p50 = forms.FloatField(required=False, min_value=0, label="Typical latency (ms, p50)")

    class Meta:
        model = LLM
        fields = ["name", "provider", "api_model_id", "input_price_per_mtok", "output_price_per_mtok",
                  "context_window", "license", "parameters_b", "latency_ms_p50", "is_generalist", "is_active"]
        labels = {"api_model_id": "Provider's model id", "is_generalist": "Generalist", "is_active": "Active"}
        help_texts = {
            "api_model_id": "The name the provider's API knows it by; empty: the model's name.",
            "is_generalist": "Answers any task (used when evidence is thin).",
            "is_active": "Inactive models are never routed to.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].label_from_instance = _provider_label  # type: ignore[attr-defined]


def _provider_label(provider: Provider) -> str:
    credentials = f", key from ${provider.api_key_env}" if provider.api_key_env else ""
    return f"{provider.name} ({provider.kind}{credentials})"


class ProviderForm(forms.ModelForm):  # type: ignore[type-arg]
    """Register or edit a provider: how to reach it, and the *name* of the variable holding its key."""

    base_url = forms.URLField(required=False, assume_scheme="https", label="Base URL",
                              help_text="Where its API answers, e.g. https://api.openai.com/v1.")
    api_key_env = forms.CharField(required=False, max_length=128, label="Key's environment variable",
                                  help_text="The variable on the servers that holds the API key; empty: no key needed.")

    class Meta:
        model = Provider
        fields = ["name", "kind", "base_url", "api_key_env"]
        help_texts = {"name": "Letters, digits, - and _."}

    def clean_api_key_env(self) -> str:
        name: str = self.cleaned_data["api_key_env"].strip()
        if name and not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
            # Whatever was typed may be a key: it is not sent back to the browser.
            self.data = {**self.data, self.add_prefix("api_key_env"): ""}
            raise forms.ValidationError("Give the name of an environment variable (capitals, digits and _, such as "
                                        "OPENAI_API_KEY), not the key itself: keys are never stored here.")
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        callable_kinds = {Provider.Kind.OPENAI, Provider.Kind.ANTHROPIC}
        if cleaned.get("kind") in callable_kinds and not cleaned.get("base_url"):
            self.add_error("base_url", "An HTTP provider needs its base URL, or no call can reach it.")
        return cleaned
