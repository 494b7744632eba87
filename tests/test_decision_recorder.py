"""With asynchronous writes (the default outside tests), decisions and usage still land, together."""

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from routing.models import Decision
from routing.recorder import recorder
from routing.services import api_key_create


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
