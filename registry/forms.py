from django import forms
from django.core.validators import validate_slug

from registry.importers import FORMATS


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
