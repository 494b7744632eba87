"""A rating corrects a model's evaluated record by how far it fell from what the evaluations led
routing to expect for that request, not by its level: a model is rated where routing chose it,
where it looked good, so pooling the ratings' mean overstated its record for the whole task type."""

import numpy as np
import pytest

from registry.models import Dataset
from registry.services import FieldOutcome, field_evidence_record
from routing.engine.snapshot import snapshots
from tests.conftest import import_cheap_and_pricey

pytestmark = pytest.mark.django_db


@pytest.fixture
def evaluated(write_bundle):
    """Ten evaluated prompts: cheap passes half of them (its record: 0.5), pricey all."""
    prompts = [{"prompt_id": f"p{i}", "prompt": f"Sort this list of numbers, case {i}.", "task_type": "code"}
               for i in range(10)]
    rows = [line for i in range(10) for line in (f"p{i},cheap,{i % 2},0.0001,,", f"p{i},pricey,1,0.004,,")]
    import_cheap_and_pricey(write_bundle, prompts, rows)
    return Dataset.objects.get(name="synthetic")


def rate(outcomes, *, score, expected):
    cheap = Dataset.objects.get(name="synthetic").prompts.first().results.get(llm__name="cheap").llm_id
    rng = np.random.default_rng(len(outcomes))
    for i in range(10):
        vector = rng.normal(size=384)
        outcomes.append(FieldOutcome(key=f"d{len(outcomes)}", embedding=vector / np.linalg.norm(vector), llm_id=cheap,
                                     score=score, cost_usd=0.0001, task_type="code", expected_score=expected))


def cheap_prior(dataset):
    snapshots.clear()
    snapshot = snapshots.get()
    cheap = next(m.id for m in snapshot.models.values() if m.name == "cheap")
    field = Dataset.objects.get(name="field-feedback")
    return snapshot.prior(cheap, "code", (dataset.pk, field.pk)), snapshot.field_prior_n(
        cheap, "code", (dataset.pk, field.pk))


def test_ratings_as_good_as_expected_leave_the_record_alone(evaluated):
    outcomes: list[FieldOutcome] = []
    rate(outcomes, score=1.0, expected=1.0)  # thumbs up where routing expected it to pass
    field_evidence_record(dataset_name="field-feedback", outcomes=outcomes)

    prior, counted = cheap_prior(evaluated)

    assert prior.quality == pytest.approx(0.5)
    assert counted == 10


def test_ratings_below_expectation_lower_it_by_their_share_of_the_evidence(evaluated):
    outcomes: list[FieldOutcome] = []
    rate(outcomes, score=0.0, expected=0.5)
    field_evidence_record(dataset_name="field-feedback", outcomes=outcomes)

    prior, _ = cheap_prior(evaluated)

    # 10 evaluated results at 0.5, 10 ratings each 0.5 below what was expected
    assert prior.quality == pytest.approx(0.5 - 0.5 * 10 / 20)
