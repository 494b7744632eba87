"""Outcomes seen in production stored as evidence: one prompt per request, each model's outcome on
it, and a request recorded again replacing what it said before."""

import numpy as np
import pytest
from django.core.management import call_command

from registry.models import LLM, EvaluationResult, Prompt
from registry.services import FieldOutcome, field_evidence_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_models():
    call_command("import_models", verbosity=0)
    return list(LLM.objects.filter(is_active=True).order_by("id").values_list("id", flat=True)[:2])


def outcome(key, llm_id, score, seed=0):
    vector = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return FieldOutcome(key=key, embedding=vector / np.linalg.norm(vector), llm_id=llm_id, score=score,
                        cost_usd=0.001, task_type="qa")


def stored(dataset):
    return sorted(EvaluationResult.objects.filter(prompt__dataset=dataset).values_list(
        "prompt__external_id", "llm_id", "score"))


def test_a_requests_outcomes_for_several_models_share_its_prompt(two_models):
    a, b = two_models

    dataset = field_evidence_record(dataset_name="field-test", outcomes=[
        outcome("r1", a, 1.0), outcome("r1", b, 0.0), outcome("r2", a, 0.0, seed=1)])

    assert stored(dataset) == [("r1", a, 1.0), ("r1", b, 0.0), ("r2", a, 0.0)]
    assert Prompt.objects.filter(dataset=dataset).count() == 2
    assert Prompt.objects.get(dataset=dataset, external_id="r1").difficulty == pytest.approx(0.5)
    assert dataset.stats["prompts"] == 2 and dataset.stats["results"] == 3


def test_a_request_recorded_again_replaces_its_outcomes_and_leaves_the_others(two_models):
    a, b = two_models
    field_evidence_record(dataset_name="field-test", outcomes=[outcome("r1", a, 1.0), outcome("r2", b, 1.0, seed=1)])

    dataset = field_evidence_record(dataset_name="field-test", outcomes=[outcome("r1", b, 0.0), outcome("r1", b, 0.5)])

    # The last outcome given for a model wins; r1's earlier outcome is gone, r2 is untouched.
    assert stored(dataset) == [("r1", b, 0.5), ("r2", b, 1.0)]
