"""Evaluations in the console: the router evaluated in the background with its report kept,
compared, and a profile's weights (as edited) placed on a dataset's quality-versus-cost chart."""

from typing import Any

import pytest

from registry.models import Dataset, Prompt
from routing.evaluation.harness import evaluate
from routing.evaluation.services import evaluation_run_execute
from routing.models import SLIDERS, EvaluationRun, PreferenceProfile

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_it_evaluates_the_router_in_the_background_and_keeps_the_report(
        client: Any, engineer: Any, synthetic: Dataset, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks() as queued:
        response = client.post("/console/evaluations/", {"dataset": "synthetic"})
    run = EvaluationRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/console/evaluations/{run.pk}/"
    assert len(queued) == 1 and run.status == "pending" and run.kind == "router" and run.created_by == engineer
    waiting = client.get(f"/console/evaluations/{run.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in waiting and "<progress" in waiting

    evaluation_run_execute(run_id=run.pk)

    done = client.get(f"/console/evaluations/{run.pk}/", **HTMX).content.decode()
    assert "hx-trigger" not in done and 'data-status="succeeded"' in done
    assert 'class="chart pareto-chart"' in done and "<polyline" in done
    assert "Best single model: pricey" in done and "Oracle" in done and "Cheapest model: cheap" in done
    assert "AIQ" in done and "routing's default" in done
    run.refresh_from_db()
    assert set(run.report["strategies"]) == {"knn", "learned", "cosine"} and run.report["n_test"] == 8
    listed = client.get("/console/evaluations/").content.decode()
    assert f'name="run" value="{run.pk}"' in listed and "pricey" in listed


def test_it_refuses_a_dataset_it_cannot_evaluate(client: Any, engineer: Any, synthetic: Dataset) -> None:
    Prompt.objects.filter(dataset=synthetic, split="test").update(split="train")

    response = client.post("/console/evaluations/", {"dataset": "synthetic"})
    unknown = client.post("/console/evaluations/", {"dataset": "nowhere"})

    assert response.status_code == 400 and "synthetic has no test prompts" in response.content.decode()
    assert unknown.status_code == 400 and "There is no dataset of that name." in unknown.content.decode()
    assert not EvaluationRun.objects.exists()


def test_a_run_that_fails_says_why_and_a_second_execution_does_nothing(client: Any, engineer: Any,
                                                                        synthetic: Dataset) -> None:
    run = EvaluationRun.objects.create(dataset=synthetic)
    Prompt.objects.filter(dataset=synthetic, split="test").delete()  # after it was queued

    evaluation_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == "failed" and "needs both a train and a test split" in run.error
    assert evaluation_run_execute(run_id=run.pk) is None
    page = client.get(f"/console/evaluations/{run.pk}/").content.decode()
    assert "The evaluation stopped: dataset &#x27;synthetic&#x27; needs both a train and a test split" in page


def _sliders(profile: PreferenceProfile, **changed: float) -> dict[str, Any]:
    return {"description": profile.description, **profile.full_weights(), **changed}


def test_it_places_a_profile_as_edited_without_saving_it(
        client: Any, engineer: Any, synthetic: Dataset, django_capture_on_commit_callbacks: Any) -> None:
    profile = PreferenceProfile.objects.get(name="balanced")
    saved = dict(profile.weights)

    with django_capture_on_commit_callbacks() as queued:
        response = client.post(f"/console/profiles/{profile.pk}/evaluate/",
                               _sliders(profile, cost=0.9) | {"dataset": "synthetic"}, **HTMX)

    assert response.status_code == 201 and len(queued) == 1
    assert 'hx-trigger="every 1s"' in response.content.decode()
    run = EvaluationRun.objects.get()
    assert run.kind == "profile" and run.profile == profile and run.weights["cost"] == 0.9
    profile.refresh_from_db()
    assert profile.weights == saved
    evaluation_run_execute(run_id=run.pk)

    page = client.get(f"/console/profiles/{profile.pk}/").content.decode()
    assert "this profile" in page and "of the quality of the best single model (pricey" in page
    assert "as edited, not the saved ones" in page and '<option value="synthetic" selected>' in page
    run.refresh_from_db()
    assert set(run.report["strategies"]) == {"knn"} and {"quality", "cost_per_1k"} <= set(run.report["profile"])


def test_it_refuses_to_place_unusable_weights(client: Any, engineer: Any, synthetic: Dataset) -> None:
    profile = PreferenceProfile.objects.get(name="balanced")

    response = client.post(f"/console/profiles/{profile.pk}/evaluate/",
                           {slider: 0 for slider in SLIDERS} | {"dataset": "synthetic"}, **HTMX)

    assert response.status_code == 400 and "Fix the weights above first." in response.content.decode()
    assert not EvaluationRun.objects.exists()


def test_a_profile_lands_where_its_weights_route(synthetic: Dataset) -> None:
    quality_only = evaluate(dataset_name="synthetic", strategies=["knn"], weights={"accuracy": 1.0})
    cost_only = evaluate(dataset_name="synthetic", strategies=["knn"], weights={"cost": 1.0})

    points = quality_only["strategies"]["knn"]["points"]
    assert {k: quality_only["profile"][k] for k in ("quality", "cost_per_1k")} == \
        {k: points[0][k] for k in ("quality", "cost_per_1k")}
    assert {k: cost_only["profile"][k] for k in ("quality", "cost_per_1k")} == \
        {k: points[-1][k] for k in ("quality", "cost_per_1k")}
    assert quality_only["profile"]["cost_per_1k"] > cost_only["profile"]["cost_per_1k"]


def test_it_compares_two_reports(client: Any, engineer: Any, synthetic: Dataset) -> None:
    first = EvaluationRun.objects.create(dataset=synthetic)
    evaluation_run_execute(run_id=first.pk)
    first.refresh_from_db()
    second = EvaluationRun.objects.create(dataset=synthetic, status="succeeded", report=first.report | {
        "strategies": {"knn": first.report["strategies"]["knn"] | {"aiq": 0.5}}})

    page = client.get(f"/console/evaluations/compare/?run={first.pk}&run={second.pk}").content.decode()
    one = client.get(f"/console/evaluations/compare/?run={first.pk}")

    assert f"Report #{first.pk} and report #{second.pk}" in page
    assert f"#{first.pk} knn (AIQ" in page and f"#{second.pk} knn (AIQ 0.500)" in page
    assert 'class="curve c2 dashed"' in page and 'class="curve c2"' in page  # knn in both: solid, then dashed
    assert "AIQ, cosine" in page and "not evaluated" in page and "Best single model" in page
    assert one.status_code == 400 and "Tick exactly two reports to compare (1 ticked)." in one.content.decode()


def test_the_datasets_page_shows_each_datasets_statistics(client: Any, engineer: Any, synthetic: Dataset) -> None:
    page = client.get("/console/datasets/").content.decode()

    assert "synthetic" in page and "32 / 8" in page and "Evaluate the router on synthetic" in page
    assert "<td>pricey</td>" in page and "<td>cheap</td><td class=\"num\">40</td><td class=\"num\">0.500</td>" in page
    assert "<td>code</td><td class=\"num\">10</td>" in page and "<td>technology</td><td class=\"num\">20</td>" in page
    assert "$0.0001 to $0.004" in page and "imported" in page
