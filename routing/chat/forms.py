from __future__ import annotations

from typing import Any

from django import forms

from routing.models import PreferenceProfile


class ChatForm(forms.Form):
    message = forms.CharField(max_length=20_000, strip=True,
                              widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Ask anything…"}))
    profile = forms.ChoiceField(initial="balanced")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = PreferenceProfile.objects.order_by("name").values_list("name", flat=True)
        profile = self.fields["profile"]
        assert isinstance(profile, forms.ChoiceField)
        profile.choices = [("auto", "auto (my cohort's default)")] + [(n, n) for n in names]
