"""Feedback (field evidence) is searched apart from the evaluations: rated answers, each speaking
for one model, never push the evaluated prompts (which speak for every model) out of a request's
neighbours."""

import pytest
from django.core.management import call_command

from registry.models import Dataset, Prompt
from registry.services import FieldOutcome, field_evidence_record
from routing.engine.snapshot import snapshots
from routing.learning.quality import NEIGHBOURS
from routing.pipeline import evidence_gather, request_build

pytestmark = pytest.mark.django_db
TEXT = "Write a Python function that reverses a list."


def test_rated_answers_join_the_evaluated_neighbours_without_displacing_them(write_bundle):
    call_command("import_evaluations", str(write_bundle()), "--dataset", "evals")
    evals = Dataset.objects.get(name="evals")
    vector = request_build(text=TEXT)[0].vector
    cheap = evals.prompts.first().results.first().llm_id
    # More rated answers than a search returns, each closer to the request than any evaluated prompt.
    field = field_evidence_record(dataset_name="field-feedback", outcomes=[
        FieldOutcome(key=f"d{i}", embedding=vector, llm_id=cheap, score=1.0, cost_usd=0.001)
        for i in range(NEIGHBOURS + 5)])
    snapshots.clear()

    request = request_build(text=TEXT, dataset_ids=(evals.pk, field.pk))[0]
    found = [pid for pid, _ in evidence_gather(request)]

    evaluated = set(Prompt.objects.train().filter(dataset=evals).values_list("id", flat=True))
    assert evaluated <= set(found)
    assert len([pid for pid in found if pid not in evaluated]) == NEIGHBOURS
    similarities = [sim for _, sim in evidence_gather(request)]
    assert similarities == sorted(similarities, reverse=True)
