"""replay_feedback: the report CONTRACTS.md describes, from feedback that was really stored and folded."""

import json
import random

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from feedback.models import Feedback
from registry.models import Dataset
from routing.models import Decision
from tests.conftest import import_cheap_and_pricey

pytestmark = pytest.mark.django_db
TOPICS = ["Write a Python function that {}.", "Translate into French: {}.", "Summarise this: {}.",
          "What is the derivative of {}?"]
THINGS = ["sorts a list", "the weather is nice", "a report on sales", "x squared plus three", "merges two dicts",
          "the meeting moved to noon", "quarterly profits rose", "sine of x", "parses a date", "we won the game"]


@pytest.fixture
def synthetic(write_bundle):
    rng = random.Random(5)
    prompts, rows = [], []
    for index in range(40):
        topic = index % len(TOPICS)
        text = TOPICS[topic].format(rng.choice(THINGS)) + f" (case {index})"
        prompts.append({"prompt_id": f"p{index}", "prompt": text, "split": "test" if index % 5 == 0 else "train"})
        rows.append(f"p{index},cheap,{0 if topic in (0, 3) else 1},0.0001,,")
        rows.append(f"p{index},pricey,{1 if rng.random() < 0.9 else 0},0.004,,")
    import_cheap_and_pricey(write_bundle, prompts, rows)
    return "synthetic"


def test_it_writes_the_contracted_report_from_stored_and_folded_feedback(synthetic, tmp_path):
    out = tmp_path / "replay.json"

    call_command("replay_feedback", "--dataset", synthetic, "--start-share", "0.25", "--rounds", "2",
                 "--out", str(out), "--seed", "3")

    report = json.loads(out.read_text())
    assert (report["dataset"], report["start_share"]) == ("synthetic", 0.25)
    assert [r["round"] for r in report["rounds"]] == [0, 1, 2]
    for entry in report["rounds"]:
        assert set(entry) >= {"round", "feedback", "aiq", "quality_at_half_cost", "explored_share"}
        assert 0.0 <= entry["explored_share"] <= 1.0
    assert set(report["full_evidence"]) == {"aiq", "quality_at_half_cost"}
    traffic = 32 - 8  # 32 train prompts, a quarter of them the starting evidence
    assert [r["feedback"] for r in report["rounds"]] == [0, traffic, 2 * traffic]
    # Every rating went through the feedback service, one per simulated user and decision, and was folded.
    ratings = Feedback.objects.filter(decision__cohort__name="replay-synthetic")
    assert ratings.count() == 2 * traffic and not ratings.filter(folded_at__isnull=True).exists()
    assert ratings.values("api_key").distinct().count() == traffic
    assert Decision.objects.filter(cohort__name="replay-synthetic", answered_by__isnull=False).count() == 2 * traffic
    field = Dataset.objects.get(name="field-feedback-replay-synthetic")
    assert field.prompts.count() == 2 * traffic
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_it_starts_afresh_when_run_again(synthetic, tmp_path):
    for _ in range(2):
        call_command("replay_feedback", "--dataset", synthetic, "--rounds", "1", "--out", str(tmp_path / "r.json"))
    assert Decision.objects.filter(cohort__name="replay-synthetic").count() == 32 - 3


def test_it_names_the_problem_with_bad_input(synthetic, tmp_path):
    with pytest.raises(CommandError, match="unknown dataset 'nope'"):
        call_command("replay_feedback", "--dataset", "nope", "--out", str(tmp_path / "r.json"))
    with pytest.raises(CommandError, match="--start-share must be between 0 and 1"):
        call_command("replay_feedback", "--dataset", synthetic, "--start-share", "1.5", "--out", str(tmp_path / "r.json"))
