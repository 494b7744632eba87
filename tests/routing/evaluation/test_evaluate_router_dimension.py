"""evaluate_router --dimension NAME: routes and scores on that dimension's results."""

import json

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db

TOPICS = ["How do I bake {} bread at home?", "How do I declare {} on my tax return?"]
THINGS = ["rye", "a gift", "spelt", "rental income", "banana", "a bonus", "corn", "dividends"]


@pytest.fixture
def helpfulness_bundle(write_bundle):
    """cheap helps only with baking; pricey helps with both; unpriced (inactive) helps most.
    pricey has no helpfulness result on test prompt p5 (public data has such gaps)."""
    prompts, rows = [], ["prompt_id,model,score,cost_usd,input_tokens,output_tokens,dimension"]
    for index in range(60):
        topic = index % 2
        prompts.append({"prompt_id": f"p{index}", "prompt": TOPICS[topic].format(THINGS[index % len(THINGS)])
                        + f" (case {index})", "split": "test" if index % 5 == 0 else "train"})
        rows += [f"p{index},cheap,1,0.0001,,,accuracy", f"p{index},pricey,1,0.004,,,accuracy",
                 f"p{index},cheap,{1 if topic == 0 else 0},0.0001,,,helpfulness",
                 f"p{index},unpriced,1,0,,,helpfulness"]
        if index != 5:
            rows.append(f"p{index},pricey,0.9,0.004,,,helpfulness")
    models = [{"name": "cheap", "provider": "acme", "input_price_per_mtok": 0.1, "output_price_per_mtok": 0.1},
              {"name": "pricey", "provider": "acme", "input_price_per_mtok": 4, "output_price_per_mtok": 4},
              {"name": "unpriced", "provider": "acme", "is_active": False}]
    call_command("import_evaluations", str(write_bundle(prompts=prompts, results="\n".join(rows) + "\n",
                                                        models=models)), "--dataset", "helpful")


def test_it_reports_the_dimension_sweep_against_the_best_single_model(helpfulness_bundle, tmp_path):
    out = tmp_path / "report.json"

    call_command("evaluate_router", "--dataset", "helpful", "--dimension", "helpfulness", "--out", str(out))

    report = json.loads(out.read_text())
    assert report["dimension"] == "helpfulness" and list(report["strategies"]) == ["knn"]
    base = report["baselines"]
    # Quality is mean helpfulness; the inactive model is no baseline routing could match.
    assert base["best_single"]["model"] == "pricey" and base["best_single"]["quality"] == pytest.approx(0.9)
    assert set(base["single_models"]) == {"cheap", "pricey"}
    # p5 is left out for all: no decision for pricey there could be scored.
    assert (report["n_test"], report["n_test_scored"]) == (12, 11)
    assert base["single_models"]["cheap"]["quality"] == pytest.approx(6 / 11, abs=1e-4)
    points = report["strategies"]["knn"]["points"]
    assert len(points) >= 25
    # Cheap on baking, pricey on taxes: as helpful as pricey at about half its cost.
    assert max(p["quality"] for p in points if p["cost_per_1k"] <= 0.6 * base["best_single"]["cost_per_1k"]) >= 0.9
    assert report["targets"]["knn"]["quality_ratio_at_50pct_cost"] is not None


def test_it_refuses_an_unknown_dimension_or_one_without_results(helpfulness_bundle, tmp_path):
    with pytest.raises(CommandError, match="unknown dimension 'kindness'"):
        call_command("evaluate_router", "--dataset", "helpful", "--dimension", "kindness", "--out", str(tmp_path / "r"))
    with pytest.raises(CommandError, match="no honesty results"):
        call_command("evaluate_router", "--dataset", "helpful", "--dimension", "honesty", "--out", str(tmp_path / "r"))
