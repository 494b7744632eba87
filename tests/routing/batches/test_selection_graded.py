"""Graded selection: the top candidates answer the sample on a real local OpenAI-protocol server,
their answers are graded (reference answers or a judge model), grading stops once the best is
clear, and the grades become registry evidence."""

import random

import pytest

from optiroute.api_errors import OptiRouteError
from registry.models import Dataset, EvaluationResult
from routing.batches.selection import MIN_GRADED_TO_STOP, MIN_SAMPLE, batch_select
from routing.models import Batch, BatchItem, Decision, Usage
from tests.conftest import wait_until


@pytest.fixture
def models(local_provider):
    """solver adds up the numbers it is asked about; chatty, cheaper and with the better published
    score, always says hello; grader judges sums."""
    made = local_provider({}, name="localai")
    made.add("solver", 1.0, quality=0.5, answers_as="fake-adder")
    made.add("chatty", 0.1, quality=0.95, answers_as="fake-ok")
    made.add("grader", 0.1, quality=None, answers_as="fake-judge", generalist=False)
    return made


def sums(n, *, references=True):
    rng = random.Random(n)
    rows = []
    for i in range(n):
        a, b = rng.randrange(100), rng.randrange(100)
        row = {"custom_id": f"s{i}", "messages": [{"role": "user", "content": f"What is {a} + {b}?"}]}
        if references:
            row["reference"] = str(a + b)
        rows.append(row)
    return rows


def options(**selection):
    return {"constraints": {"allowed_models": ["solver", "chatty"]}, "selection": selection}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_graded_selection_picks_the_model_whose_answers_match_the_references(celery_worker, models, api):
    response = api.post("/api/v1/batches", {"model": "optiroute/quality-first", "requests": sums(60),
                                            "optiroute": options(mode="graded"), "auto_run": True}, format="json")
    assert response.status_code == 202, response.content
    wait_until(lambda: api.get(f"/api/v1/batches/{response.json()['id']}").json()["status"] in ("succeeded", "failed"))
    summary = api.get(f"/api/v1/batches/{response.json()['id']}").json()

    assert summary["status"] == "succeeded" and summary["chosen_model"] == "solver", summary
    choice = summary["choice"]
    assert choice["mode"] == "graded" and summary["sample_size"] == MIN_SAMPLE
    assert choice["candidates"]["solver"]["quality"] == 1.0 and choice["candidates"]["chatty"]["quality"] == 0.0
    # The evidence (published scores) preferred chatty; grading the sample overturned it.
    assert choice["evidence"]["chatty"]["objective"] > choice["evidence"]["solver"]["objective"]
    assert choice["graded_rows"] == MIN_GRADED_TO_STOP and "stopped after round 2" in choice["early_stop"]
    proposal = choice["proposal"]
    assert proposal["model"] == "solver" and proposal["interval"][1] == 1.0
    assert proposal["sample_cost_usd"] > 0
    # The sampled rows solver answered in grading keep their answers: the projection does not pay them twice.
    assert proposal["answered_in_sample"] == MIN_GRADED_TO_STOP
    assert proposal["projected_cost_usd"] == pytest.approx(
        (60 - MIN_GRADED_TO_STOP) * choice["candidates"]["solver"]["cost_per_row_usd"] + proposal["sample_cost_usd"])
    assert {c["size"] for c in choice["clusters"]} and sum(c["size"] for c in choice["clusters"]) == 60
    assert len(choice["sample_ids"]) == MIN_SAMPLE
    # Each graded call was billed once; then every other row of the batch was answered, once.
    assert models.server.calls["fake-adder"] == 60
    assert Usage.objects.filter(decision__strategy="batch-sample").count() == 2 * MIN_GRADED_TO_STOP
    reused = BatchItem.objects.filter(batch_id=summary["id"], from_sample=True)
    assert reused.count() == MIN_GRADED_TO_STOP and not reused.exclude(answered_by__name="solver").exists()
    assert Usage.objects.filter(batch_item__batch_id=summary["id"]).count() == 60  # one usage row a row
    assert summary["cost_usd"] == pytest.approx(sum(Usage.objects.values_list("cost_usd", flat=True)))
    evidence = Dataset.objects.get(name=f"batch-{summary['id']}")
    assert EvaluationResult.objects.filter(prompt__dataset=evidence).count() == 2 * MIN_GRADED_TO_STOP
    assert evidence.prompts.filter(embedding__isnull=False).count() == MIN_GRADED_TO_STOP


def make_batch(key, requests, selection, profile="quality-first"):
    batch = Batch.objects.create(api_key=key[0], cohort=key[0].cohort, model=f"optiroute/{profile}",
                                 options=options(**selection), total=len(requests))
    BatchItem.objects.bulk_create([BatchItem(batch=batch, position=i, custom_id=r["custom_id"],
                                             messages=r["messages"]) for i, r in enumerate(requests)])
    return batch


@pytest.mark.django_db
def test_a_judge_model_grades_when_there_are_no_references(models, key):
    batch = make_batch(key, sums(40, references=False), {"mode": "graded", "judge": "grader"})

    selection = batch_select(batch=batch)

    assert [c.llm.name for c in selection.ranking] == ["solver", "chatty"]
    assert selection.choice["candidates"]["solver"]["quality"] == 1.0
    assert models.server.calls["fake-judge"] == 2 * selection.choice["graded_rows"]
    billed = sum(Usage.objects.filter(decision__strategy="batch-sample").values_list("cost_usd", flat=True))
    assert selection.choice["sample_cost_usd"] == pytest.approx(billed)  # the judge's calls count too
    assert Decision.objects.filter(explanation__contains="judging").count() == 2 * selection.choice["graded_rows"]


@pytest.mark.django_db
def test_grading_goes_on_through_the_whole_sample_while_the_candidates_are_not_separated(local_provider, key):
    made = local_provider({}, name="localai")
    made.add("solver", 1.0, answers_as="fake-adder")
    made.add("chatty", 1.0, answers_as="fake-adder")  # the same answers: never separated
    requests = sums(60)
    batch = make_batch(key, requests, {"mode": "graded", "references": {r["custom_id"]: r["reference"]
                                                                         for r in requests}})

    selection = batch_select(batch=batch)

    assert selection.choice["graded_rows"] == MIN_SAMPLE and selection.choice["early_stop"] == ""
    assert selection.choice["rounds"] == 4


@pytest.mark.django_db
def test_evidence_selection_gives_every_candidate_an_interval_and_no_model_is_called(models, key):
    batch = make_batch(key, sums(60), {"mode": "evidence", "per_cluster": True})

    selection = batch_select(batch=batch)

    for row in selection.choice["candidates"].values():
        low, high = row["interval"]
        assert low <= row["quality"] <= high and row["projected_cost_usd"] > 0
    assert selection.choice["proposal"]["model"] == "chatty"  # the published scores say so
    assert selection.choice["sample_cost_usd"] == 0 and not models.server.calls
    assert "estimates" in selection.choice["interval_of"]
    assert set(selection.choice["per_cluster"].values()) <= {"solver", "chatty"}


@pytest.mark.django_db
@pytest.mark.parametrize("selection, expected", [
    ({"mode": "graded"}, "needs a `reference` answer"),
    ({"mode": "graded", "judge": "no-such-judge"}, "unknown model 'no-such-judge'"),
    ({"mode": "vote"}, "not a valid choice"),
    ({"mode": "graded", "top_n": 0}, "greater than or equal to 1"),
])
def test_bad_selection_options_are_refused_before_anything_is_stored(models, api, selection, expected):
    body = {"model": "optiroute/balanced", "requests": sums(3, references=False),
            "optiroute": {"selection": selection}}
    response = api.post("/api/v1/batches", body, format="json")
    assert response.status_code == 400 and expected in str(response.json()), response.content
    assert not Batch.objects.exists()


@pytest.mark.django_db
def test_grading_stops_when_the_cohorts_budget_is_spent(models, key):
    cohort = key[0].cohort
    cohort.monthly_budget_usd = "0.00003"  # a few graded answers of 18 tokens at $1 and $0.1 per million
    cohort.save()
    batch = make_batch(key, sums(40), {"mode": "graded"})
    batch.options["selection"]["references"] = {r["custom_id"]: r["reference"] for r in sums(40)}

    with pytest.raises(OptiRouteError, match=r"budget .* is spent"):
        batch_select(batch=batch)
    billed = sum(Usage.objects.filter(cohort=cohort).values_list("cost_usd", flat=True))
    assert 0 < billed < 0.00003 + 18e-6  # at most the one call that crossed the line
