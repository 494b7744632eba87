"""With asynchronous writes (the default outside tests), decisions and usage still land, together."""

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from routing.access.keys import api_key_create
from routing.models import Decision
from routing.recorder import recorder


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_route_decisions_are_stored_by_the_background_writer(settings):
    settings.OPTIROUTE_ASYNC_DECISION_WRITES = True
    call_command("import_models")
    _, raw = api_key_create(cohort_name=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    ids = [client.post("/api/v1/route", {"prompt": f"Summarise chapter {i} of Moby Dick."}, format="json").json()["id"]
           for i in range(5)]
    recorder.flush()
    assert Decision.objects.filter(id__in=ids).count() == 5


@pytest.mark.django_db
def test_a_batch_is_stored_as_the_decisions_were_made():
    """The batched writer stores every field as save() would: JSON documents, keys, defaults, timestamps."""
    call_command("import_models")
    key, _ = api_key_create(cohort_name=None)
    from routing.pipeline import decision_make

    made = [decision_make(text=f"Translate sentence {i} into French.", cohort=key.cohort, api_key=key,
                          save=False).decision for i in range(3)]
    recorder.write_now([(d, None) for d in made])
    for decision in made:
        stored = Decision.objects.get(pk=decision.pk)
        assert stored.candidates == decision.candidates and stored.candidates
        assert stored.analysis == decision.analysis and stored.weights == decision.weights
        assert stored.chosen_model_id == decision.chosen_model_id and stored.api_key_id == key.pk
        assert stored.created_at is not None and stored.explanation == decision.explanation
        assert stored.attempts == [] and stored.mode == Decision.Mode.DRY_RUN
