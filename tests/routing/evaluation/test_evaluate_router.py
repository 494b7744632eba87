"""evaluate_router: the report CONTRACTS.md describes, and a sweep that resolves the cost curve."""

import itertools
import json
import random
from types import SimpleNamespace

import pytest
from django.core.management import call_command

from registry.models import LLM
from routing.engine.request import Candidate, Estimates
from routing.engine.strategies import STRATEGIES
from routing.evaluation.harness import SWEEP_POINTS, _sweep
from tests.conftest import import_cheap_and_pricey

TOPICS = ["Write a Python function that {}.", "Translate into French: {}.", "Summarise this: {}.",
          "What is the derivative of {}?"]
THINGS = ["sorts a list", "the weather is nice", "a report on sales", "x squared plus three", "merges two dicts",
          "the meeting moved to noon", "quarterly profits rose", "sine of x", "parses a date", "we won the game"]


@pytest.mark.django_db
def test_it_writes_the_contracted_report_and_plot(write_bundle, tmp_path):
    rng = random.Random(3)
    prompts, rows = [], []
    for index in range(80):
        topic = index % len(TOPICS)
        text = TOPICS[topic].format(rng.choice(THINGS)) + f" (case {index})"
        prompts.append({"prompt_id": f"p{index}", "prompt": text, "split": "test" if index % 5 == 0 else "train"})
        # The cheap model fails code and math; the pricey one rarely fails anything.
        rows.append(f"p{index},cheap,{0 if topic in (0, 3) else 1},0.0001,,")
        rows.append(f"p{index},pricey,{1 if rng.random() < 0.95 else 0},0.004,,")
    import_cheap_and_pricey(write_bundle, prompts, rows)
    out, plot = tmp_path / "report.json", tmp_path / "curve.png"

    call_command("evaluate_router", "--dataset", "synthetic", "--out", str(out), "--plot", str(plot))

    report = json.loads(out.read_text())
    assert (report["dataset"], report["n_train"], report["n_test"]) == ("synthetic", 64, 16)
    assert set(report["baselines"]) >= {"best_single", "oracle", "random", "cheapest", "single_models"}
    assert report["baselines"]["best_single"]["model"] == "pricey"
    assert report["default_strategy"] == "knn" and set(report["strategies"]) == set(STRATEGIES)
    knn = report["strategies"]["knn"]
    weights = [p["cost_weight"] for p in knn["points"]]
    assert len(weights) >= 25 and weights == sorted(weights) and (weights[0], weights[-1]) == (0.0, 1.0)
    first, last = knn["points"][0], knn["points"][-1]
    assert first["quality"] > last["quality"] and first["cost_per_1k"] > last["cost_per_1k"]
    # Sending the cheap model what it handles keeps most of the pricey model's quality at half its cost.
    assert report["targets"]["knn"]["quality_ratio_at_50pct_cost"] >= 0.9
    assert knn["aiq"] > report["baselines"]["cheapest"]["quality"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _estimates(cheap_quality: float) -> Estimates:
    """Two candidates: a free model of the given quality and a perfect one costing $1."""
    def candidate(llm_id: int, quality: float, cost: float) -> Candidate:
        return Candidate(llm=LLM(id=llm_id, name=f"m{llm_id}"), quality=quality, confidence=1.0, evidence_n=1,
                                prior=quality, prior_source="test", cost_usd=cost, typical_cost_usd=1.0,
                                latency_ms=100.0, declared={})
    return Estimates([candidate(1, cheap_quality, 0.0), candidate(2, 1.0, 1.0)], {}, [], [])


def test_the_sweep_closes_the_gap_where_the_choice_flips_between_grid_points():
    # The perfect model wins while (1 - w)(1 - q) > w, i.e. below w = (1 - q) / (2 - q): 0.5037 here,
    # between two points of the fixed grid (0.50 and 0.51).
    threshold = 0.5037
    quality = (1 - 2 * threshold) / (1 - threshold)
    sweep = _sweep([SimpleNamespace(id=7)], [_estimates(quality)])

    assert len(sweep) > SWEEP_POINTS  # the grid, then the points it added
    chosen = [(weight, choices[7]) for weight, choices in sweep]
    flips = [(a, b) for (a, first), (b, second) in itertools.pairwise(chosen) if first != second]
    assert len(flips) == 1
    below, above = flips[0]
    assert below < threshold < above and above - below <= 2e-5
