"""Fixtures shared by the routing parts' tests."""

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command


@pytest.fixture
def trio(local_provider: Callable[..., Any], write_bundle: Callable[..., Path]) -> Any:
    """Two small models ($0.1/Mtok) right 70% of the time each, independently, and a large one
    ($4/Mtok) right 90%, with their recorded answers to multiple-choice questions: where the small
    ones agree they are nearly always right; a small model that is wrong often rambles. The server;
    tests/routing/cascades.py's `answering` sets what each model answers."""
    made = local_provider({"small-a": (0.1, 0.8), "small-b": (0.1, 0.8), "large": (4.0, 0.9)}, name="localai")
    rng = random.Random(7)
    prompts, rows = [], []
    for index in range(80):
        options = "\n".join(f"{letter}) option {letter.lower()}{index}" for letter in "ABCD")
        prompts.append({"prompt_id": f"q{index}", "task_type": "question_answering", "prompt":
                        f"Which animal is the largest? (case {index})\n{options}\nPrint only a single choice from "
                        "\"A\" or \"B\" or \"C\" or \"D\" without explanation.\nAnswer:"})
        truth = rng.choice("ABCD")
        for model, right in (("small-a", 0.7), ("small-b", 0.7), ("large", 0.9)):
            answer = truth if rng.random() < right else rng.choice([x for x in "ABCD" if x != truth])
            response = answer if answer == truth or rng.random() < 0.5 else f"{answer}) because it is the largest"
            rows.append(f"q{index},{model},{int(answer == truth)},,{response}")
    results = "\n".join(["prompt_id,model,score,cost_usd,response", *rows]) + "\n"
    call_command("import_evaluations", str(write_bundle(prompts=prompts, results=results, models=[])),
                 "--dataset", "choices")
    return made.server
