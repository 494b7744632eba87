"""The console's batch page shows how the model was chosen: the candidates on the sample with
their intervals and projected cost, the clusters and their sizes, and why grading stopped."""

import pytest

from registry.models import LLM, Provider
from routing.access.keys import api_key_create
from routing.models import Batch

pytestmark = pytest.mark.django_db


def test_it_shows_the_candidates_clusters_and_early_stop(staff):
    llm = LLM.objects.create(name="solver", provider=Provider.objects.create(name="p", kind="openai"))
    key, _ = api_key_create(cohort_name=None)
    choice = {"mode": "graded", "early_stop": "stopped after round 2: the interval separates solver",
              "clusters": [{"cluster": 0, "size": 40, "sampled": 12}, {"cluster": 1, "size": 20, "sampled": 8}],
              "candidates": {"solver": {"quality": 0.95, "interval": [0.81, 1.0], "cost_per_row_usd": 0.0002,
                                        "projected_cost_usd": 0.013},
                             "chatty": {"quality": 0.1, "interval": [0.02, 0.3], "cost_per_row_usd": 0.00005,
                                        "projected_cost_usd": 0.004}},
              "proposal": {"model": "solver", "expected_quality": 0.95, "interval": [0.81, 1.0], "cost_usd": 0.013,
                           "sample_cost_usd": 0.001}}
    batch = Batch.objects.create(api_key=key, cohort=key.cohort, model="optiroute/auto", total=60, sample_size=20,
                                 status=Batch.Status.PROPOSED, chosen_model=llm, choice=choice)
    page = staff.client.get(f"/console/batches/{batch.pk}/").content.decode()
    assert "Candidates on the sample (graded, 20 of 60 requests)" in page
    assert "0.81 to 1.00" in page and "0.02 to 0.30" in page and "$0.013" in page
    assert "Clusters of the batch" in page and ">40<" in page and ">12<" in page
    assert "stopped after round 2" in page
