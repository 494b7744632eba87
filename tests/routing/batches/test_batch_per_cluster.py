"""One model per cluster: when the batch allows it, each request is answered by its cluster's best
model on the graded sample, by real workers against the local OpenAI-protocol server."""

import random

import pytest

from routing.batches import selection
from routing.batches.services import batch_run
from routing.models import Batch, BatchItem, Decision, Usage
from tests.routing.batches.conftest import wait_for

GREETING = "Hello from the local provider."  # what fake-ok answers
NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Niklaus"]


@pytest.fixture
def models(local_provider):
    """solver adds up the numbers it is asked about; chatty, cheaper, always says hello."""
    made = local_provider({}, name="localai")
    made.add("solver", 1.0, quality=0.5, answers_as="fake-adder")
    made.add("chatty", 0.1, quality=0.95, answers_as="fake-ok")
    return made


def mixed_requests():
    """30 sums (solver is right) and 20 greetings (chatty is right), shuffled, each with its reference."""
    rng = random.Random(7)
    rows = []
    for i in range(30):
        a, b = rng.randrange(100), rng.randrange(100)
        rows.append({"custom_id": f"sum{i}", "content": f"What is {a} + {b}?", "reference": str(a + b)})
    for i in range(20):
        rows.append({"custom_id": f"greet{i}", "content": f"Please greet {NAMES[i % 10]} warmly at the door.",
                     "reference": GREETING})
    rng.shuffle(rows)
    return rows


def make_batch(key, *, per_cluster):
    batch = Batch.objects.create(
        api_key=key[0], cohort=key[0].cohort, model="optiroute/quality-first", total=50,
        options={"constraints": {"allowed_models": ["solver", "chatty"]},
                 "selection": {"mode": "graded", "per_cluster": per_cluster}})
    BatchItem.objects.bulk_create([
        BatchItem(batch=batch, position=i, custom_id=r["custom_id"], reference=r["reference"],
                  messages=[{"role": "user", "content": r["content"]}]) for i, r in enumerate(mixed_requests())])
    return batch


@pytest.fixture
def two_clusters(monkeypatch):
    # 50 rows make one cluster by the batch's size; this batch has two kinds of request.
    monkeypatch.setattr(selection, "cluster_count", lambda rows: 2)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_each_request_is_answered_by_its_clusters_model(celery_worker, models, key, api, two_clusters):
    batch = make_batch(key, per_cluster=True)
    batch_run(batch_id=str(batch.pk))  # the choice, in this process (where the batch has two clusters)

    proposed = wait_for(api, str(batch.pk), "proposed")
    items = BatchItem.objects.filter(batch=batch)
    sums_cluster = {c for c in items.filter(custom_id__startswith="sum").values_list("cluster", flat=True)}
    greetings_cluster = {c for c in items.filter(custom_id__startswith="greet").values_list("cluster", flat=True)}
    assert len(sums_cluster) == len(greetings_cluster) == 1 and sums_cluster != greetings_cluster
    (sums,), (greetings,) = sums_cluster, greetings_cluster
    assert proposed["choice"]["per_cluster"] == {str(sums): "solver", str(greetings): "chatty"}
    planned = {row["cluster"]: row["model"] for row in proposed["proposal"]["per_cluster"]}
    assert planned == {sums: "solver", greetings: "chatty"}

    assert api.post(f"/api/v1/batches/{batch.pk}/confirm").status_code == 200
    done = wait_for(api, str(batch.pk), "succeeded", "failed")
    assert (done["status"], done["done"]) == ("succeeded", 50)
    for item in items.select_related("answered_by", "decision__chosen_model"):
        if item.custom_id.startswith("sum"):
            assert item.answered_by.name == "solver" and item.content.startswith("The answer is"), item.custom_id
            assert float(item.content.split()[-1].rstrip(".")) == float(item.reference)
        else:
            assert (item.answered_by.name, item.content) == ("chatty", GREETING), item.custom_id
        assert item.decision.chosen_model == item.answered_by
    assert "one model per cluster" in Decision.objects.filter(strategy="batch").first().explanation
    # Every graded row kept the answer its cluster's model gave in grading: no second call, no second bill.
    graded = done["choice"]["graded_rows"]
    assert items.filter(from_sample=True).count() == graded == proposed["proposal"]["answered_in_sample"]
    assert sum(models.server.calls.values()) == 2 * graded + 50 - graded
    assert Usage.objects.filter(batch_item__batch=batch).count() == 50


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_without_leave_for_one_model_per_cluster_one_model_answers_all(celery_worker, models, key, api,
                                                                         two_clusters):
    batch = make_batch(key, per_cluster=False)
    batch_run(batch_id=str(batch.pk))

    proposed = wait_for(api, str(batch.pk), "proposed")
    assert "per_cluster" not in proposed["choice"] and "per_cluster" not in proposed["proposal"]
    assert api.post(f"/api/v1/batches/{batch.pk}/confirm").status_code == 200
    done = wait_for(api, str(batch.pk), "succeeded", "failed")
    assert done["done"] == 50
    answered_by = set(BatchItem.objects.filter(batch=batch).values_list("answered_by__name", flat=True))
    assert answered_by == {done["chosen_model"]}
