"""evaluate_router's cascade: replayed from recorded responses, honest when the labels say nothing."""

import json
import random

import pytest
from django.core.management import call_command

from routing.engine.strategies import STRATEGIES

QUESTIONS = ["Which planet is {}?", "Which animal is {}?", "Which tool is {}?", "Which colour is {}?"]
TRAITS = ["the largest", "the fastest", "the oldest", "the smallest", "the loudest", "the brightest"]
MODELS = [{"name": "small-a", "provider": "acme", "input_price_per_mtok": 0.1, "output_price_per_mtok": 0.1},
          {"name": "small-b", "provider": "acme", "input_price_per_mtok": 0.1, "output_price_per_mtok": 0.1},
          {"name": "large", "provider": "acme", "input_price_per_mtok": 4, "output_price_per_mtok": 4}]
RIGHT = {"small-a": 0.8, "small-b": 0.8, "large": 0.9}
COST = {"small-a": 0.0001, "small-b": 0.0001, "large": 0.004}
N_PROMPTS, TEST_EVERY = 200, 2


def _bundle(write_bundle, name: str, shuffle_test_scores: bool) -> str:
    """Multiple-choice prompts: two small models right 80% of the time each, independently, a large
    one 90%. Where the small ones agree they are nearly always right; that is the cascade's signal.
    With `shuffle_test_scores`, every test prompt carries the scores of another test prompt, while
    its responses stay its own: nothing a router can see predicts a test score any more."""
    rng = random.Random(11)
    prompts, outcomes = [], {}
    for index in range(N_PROMPTS):
        options = "\n".join(f"{letter}) option {letter.lower()}{index}" for letter in "ABCD")
        text = f"{rng.choice(QUESTIONS).format(rng.choice(TRAITS))} (case {index})\n{options}\n" \
               "Print only a single choice from \"A\" or \"B\" or \"C\" or \"D\" without explanation.\nAnswer:"
        split = "test" if index % TEST_EVERY == 0 else "train"
        prompts.append({"prompt_id": f"q{index}", "prompt": text, "split": split, "task_type": "question_answering"})
        truth = rng.choice("ABCD")
        answers = {m: truth if rng.random() < p else rng.choice([x for x in "ABCD" if x != truth])
                   for m, p in RIGHT.items()}
        outcomes[f"q{index}"] = (answers, {m: int(a == truth) for m, a in answers.items()})
    scores = {pid: s for pid, (_, s) in outcomes.items()}
    if shuffle_test_scores:
        test_ids = [p["prompt_id"] for p in prompts if p["split"] == "test"]
        shuffled = test_ids[:]
        random.Random(5).shuffle(shuffled)
        scores.update({pid: outcomes[other][1] for pid, other in zip(test_ids, shuffled)})
    rows = [f"{pid},{m},{scores[pid][m]},{COST[m]},{answers[m]}"
            for pid, (answers, _) in outcomes.items() for m in RIGHT]
    results = "\n".join(["prompt_id,model,score,cost_usd,response", *rows]) + "\n"
    folder = write_bundle(prompts=prompts, results=results, models=MODELS, name=name)
    call_command("import_evaluations", str(folder), "--dataset", name)
    return name


def _report(name, tmp_path):
    out = tmp_path / f"{name}.json"
    call_command("evaluate_router", "--dataset", name, "--out", str(out))
    return json.loads(out.read_text())


@pytest.mark.django_db
def test_it_replays_cascades_that_keep_the_large_models_quality_for_less(write_bundle, tmp_path):
    report = _report(_bundle(write_bundle, "agreeing", shuffle_test_scores=False), tmp_path)

    assert report["cascade"] == {"available": True}
    assert set(report["strategies"]) == {*STRATEGIES, "cascade"}
    cascade, large = report["strategies"]["cascade"], report["baselines"]["single_models"]["large"]
    assert len(cascade["points"]) >= 25
    # Small models that agree are right about 98% of the time: returning their answer and
    # escalating only the rest keeps the large model's quality at well under half its cost.
    assert report["targets"]["cascade"]["quality_ratio_at_50pct_cost"] >= 0.97
    assert report["targets"]["cascade"]["quality_ratio_at_50pct_cost"] > \
        report["targets"]["knn"]["quality_ratio_at_50pct_cost"]
    cheapest_cascade = min(cascade["points"], key=lambda p: p["cost_per_1k"])
    assert cheapest_cascade["cost_per_1k"] < large["cost_per_1k"] / 10
    assert any(0 < p["escalated_share"] < 1 and p["calls_per_prompt"] > 1 for p in cascade["points"])


@pytest.mark.django_db
def test_no_strategy_beats_the_best_model_when_test_scores_are_shuffled(write_bundle, tmp_path):
    report = _report(_bundle(write_bundle, "shuffled", shuffle_test_scores=True), tmp_path)

    n_test = report["n_test"]
    best = max(s["quality"] for s in report["baselines"]["single_models"].values())
    # Each point is a mean of n_test scores: three standard errors of a 0.9-quality mean.
    noise = 3 * (0.9 * 0.1 / n_test) ** 0.5
    assert set(report["strategies"]) == {*STRATEGIES, "cascade"}
    # The margin is narrow enough to catch a leak: the oracle, which reads the test labels, beats it.
    assert report["baselines"]["oracle"]["quality"] > best + noise
    for name, data in report["strategies"].items():
        assert max(p["quality"] for p in data["points"]) <= best + noise, name


@pytest.mark.django_db
def test_a_dataset_without_responses_reports_that_no_cascade_can_be_replayed(write_bundle, tmp_path):
    call_command("import_evaluations", str(write_bundle()), "--dataset", "plain")
    out = tmp_path / "plain.json"

    call_command("evaluate_router", "--dataset", "plain", "--out", str(out), "--strategy", "knn",
                 "--strategy", "cascade")

    report = json.loads(out.read_text())
    assert report["cascade"]["available"] is False and "no responses" in report["cascade"]["reason"]
    assert set(report["strategies"]) == {"knn"}
