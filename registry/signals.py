"""Signals other apps may listen to; the registry itself depends on none of them."""

from django.dispatch import Signal

# Sent after an import has committed, with `dataset_id`.
evaluations_imported = Signal()
