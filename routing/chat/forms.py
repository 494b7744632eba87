from __future__ import annotations

from typing import Any

from django import forms

from routing.models import PreferenceProfile


class ChatForm(forms.Form):
    message = forms.CharField(max_length=20_000, strip=True, label="Your message",
                              widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Ask anything…"}))
    profile = forms.ChoiceField(label="Profile", required=False)

    def __init__(self, *args: Any, default_profile: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = list(PreferenceProfile.objects.order_by("name").values_list("name", flat=True))
        profile = self.fields["profile"]
        assert isinstance(profile, forms.ChoiceField)
        profile.choices = [(n, n) for n in names] + [("auto", "auto (my cohort's default)")]
        # The cohort's default profile is what a new conversation starts with.
        profile.initial = default_profile if default_profile in names else "auto"


class RenameForm(forms.Form):
    title = forms.CharField(max_length=200, strip=True, label="Title")
