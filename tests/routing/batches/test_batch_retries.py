"""A row whose calls fail is tried a bounded number of times, then reported with its error."""

import pytest

from routing.models import Batch, BatchItem, Usage
from tests.routing.batches.conftest import requests_for


@pytest.mark.django_db
def test_a_failing_row_is_tried_three_times_then_reported_failed(local_provider, key, settings):
    from routing.batches.services import MAX_ATTEMPTS, batch_chunk_run, batch_summary

    settings.LLM_RETRY_BACKOFF_S = 0.0
    broken = local_provider({"broken": 0.1}, answers_as="fake-500").models["broken"]
    batch = Batch.objects.create(api_key=key[0], cohort=key[0].cohort, model="broken", total=2, status="running",
                                 chosen_model=broken, choice={"chain": ["broken"]})
    for position, request in enumerate(requests_for(2)):
        BatchItem.objects.create(batch=batch, position=position, custom_id=request["custom_id"],
                                 messages=request["messages"])
    assert batch_chunk_run(batch_id=str(batch.pk), start=0) == 0
    assert list(batch.items.values_list("status", "attempts")) == [("failed", MAX_ATTEMPTS)] * 2
    assert all(error for error in batch.items.values_list("error", flat=True))
    summary = batch_summary(Batch.objects.get(pk=batch.pk))
    assert (summary["status"], summary["failed"], summary["error"]) == ("failed", 2, "no request could be answered")
    assert not Usage.objects.exists()
