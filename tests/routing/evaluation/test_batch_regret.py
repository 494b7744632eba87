"""batch_regret: the report CONTRACTS.md describes, on a tiny synthetic bundle (its shape, not the targets)."""

import json
import random

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from routing.batches.selection import MIN_SAMPLE
from tests.conftest import import_cheap_and_pricey

TASKS = {"code": "Write a Python function that {}.", "summarisation": "Summarise this: {}."}
THINGS = ["sorts a list", "the weather is nice", "a report on sales", "merges two dicts", "parses a date",
          "quarterly profits rose", "we won the game", "the meeting moved to noon"]
ROW_KEYS = {"task_type", "size", "sample_size", "profile", "chosen", "quality", "cost_per_1k", "hindsight_best",
            "hindsight_quality", "regret", "interval", "covered", "sample_cost_usd"}


@pytest.fixture
def synthetic(write_bundle):
    rng = random.Random(5)
    prompts, rows = [], []
    for index in range(160):
        task = "code" if index % 2 else "summarisation"
        test = index % 4 < 2
        text = TASKS[task].format(rng.choice(THINGS)) + f" (case {index})"
        prompts.append({"prompt_id": f"p{index}", "prompt": text, "task_type": task, "split": "test" if test else "train"})
        # The train split says the cheap model writes code; on the test split it does not.
        cheap_right = task == "summarisation" or not test
        rows.append(f"p{index},cheap,{int(cheap_right)},0.0001,,")
        rows.append(f"p{index},pricey,{int(rng.random() < 0.9)},0.004,,")
    import_cheap_and_pricey(write_bundle, prompts, rows)
    return "synthetic"


def run(dataset, tmp_path, mode):
    out = tmp_path / f"{mode}.json"
    call_command("batch_regret", "--dataset", dataset, "--out", str(out), "--mode", mode)
    return json.loads(out.read_text())


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["evidence", "graded"])
def test_it_writes_the_contracted_report(synthetic, tmp_path, mode):
    report = run(synthetic, tmp_path, mode)

    assert (report["dataset"], report["mode"]) == ("synthetic", mode)
    assert len(report["batches"]) == 2 * 3  # each test task type, under each profile
    assert {(r["task_type"], r["profile"]) for r in report["batches"]} == {
        (task, profile) for task in TASKS for profile in ("quality-first", "balanced", "cost-effective")}
    for row in report["batches"]:
        assert set(row) == ROW_KEYS
        assert row["size"] == 40 and row["sample_size"] >= MIN_SAMPLE
        low, high = row["interval"]
        assert 0 <= low <= high <= 1 and row["covered"] == (low <= row["quality"] <= high)
        assert row["regret"] >= 0 and row["chosen"] in {"cheap", "pricey"}
        assert (row["sample_cost_usd"] > 0) == (mode == "graded")  # routing a sample calls no model
    assert set(report["mean_regret"]) == {"quality-first", "balanced", "cost-effective"}
    assert 0 <= report["coverage"] <= 1


@pytest.mark.django_db
def test_graded_mode_learns_from_the_sample_what_the_train_split_got_wrong(synthetic, tmp_path):
    report = run(synthetic, tmp_path, "graded")

    code = next(r for r in report["batches"] if (r["task_type"], r["profile"]) == ("code", "quality-first"))
    assert (code["chosen"], code["hindsight_best"], code["regret"]) == ("pricey", "pricey", 0)


@pytest.mark.django_db
def test_an_unknown_dataset_or_mode_is_refused_with_a_message(tmp_path):
    with pytest.raises(CommandError, match="unknown dataset 'nope'"):
        call_command("batch_regret", "--dataset", "nope", "--out", str(tmp_path / "r.json"))
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("batch_regret", "--dataset", "nope", "--out", str(tmp_path / "r.json"), "--mode", "vote")
