"""Timing batch mode's choice on a 10,000-request batch: embedding, clustering, the stratified
sample and its evidence (grading calls excluded: they wait on models, not on this machine)."""

from __future__ import annotations

import os
import time
from typing import Any

from django.db import transaction

from optiroute.api_errors import OptiRouteError
from registry.embedder import get_embedder
from registry.models import Prompt
from routing.access.keys import api_key_create
from routing.batches.selection import batch_select
from routing.models import Batch, BatchItem
from routing.pipeline import routing_state_load


def bench_batch_selection(*, dataset_name: str, n: int, profile: str = "balanced") -> dict[str, Any]:
    texts = list(Prompt.objects.filter(dataset__name=dataset_name).order_by("id").values_list("text", flat=True))
    if not texts:
        raise OptiRouteError(f"unknown or empty dataset {dataset_name!r}")
    routing_state_load()  # what a warm worker has loaded already
    key, _ = api_key_create(cohort_name=None, label="bench_batch_selection")
    with transaction.atomic():
        batch = Batch.objects.create(api_key=key, cohort=key.cohort, model=f"optiroute/{profile}", total=n,
                                     options={"selection": {"mode": "evidence"}})
        BatchItem.objects.bulk_create(
            [BatchItem(batch=batch, position=i, custom_id=str(i),
                       messages=[{"role": "user", "content": f"{texts[i % len(texts)]} (request {i})"}])
             for i in range(n)], batch_size=2000)
    try:
        started = time.perf_counter()
        selection = batch_select(batch=batch)
        seconds = time.perf_counter() - started
    finally:
        batch.delete()
        key.delete()
    return {"n": n, "seconds": round(seconds, 2), "sample_size": selection.sample_size,
            "clusters": len(selection.choice["clusters"]), "proposal": selection.choice["proposal"]["model"],
            "embedder": get_embedder().name, "cpus": os.cpu_count()}
