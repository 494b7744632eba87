"""Personas and records for the console's tests: a staff engineer, a signed-in outsider."""

from typing import Any

import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def engineer(client: Any) -> Any:
    user = get_user_model().objects.create_user("grace", password="pw-grace-123", is_staff=True)
    client.force_login(user)
    return user


@pytest.fixture
def outsider() -> Any:
    return get_user_model().objects.create_user("mallory", password="pw-mallory-123")


TOPICS = ["Write a Python function that {}.", "Translate into French: {}.", "Summarise this: {}.",
          "What is the derivative of {}?"]
THINGS = ["sorts a list", "the weather is nice", "a report on sales", "x squared plus three", "merges two dicts",
          "the meeting moved to noon", "quarterly profits rose", "sine of x", "parses a date", "we won the game"]


@pytest.fixture
def synthetic_bundle(write_bundle: Any) -> Any:
    """A tiny evaluation bundle (40 prompts, 32 train and 8 test, two models): the cheap model fails
    code and maths, the pricey one rarely fails anything. Small enough for the harness in a test."""
    import random

    rng = random.Random(3)
    prompts, rows = [], ["prompt_id,model,score,cost_usd,input_tokens,output_tokens"]
    for index in range(40):
        topic = index % len(TOPICS)
        prompts.append({"prompt_id": f"p{index}", "prompt": TOPICS[topic].format(rng.choice(THINGS)) + f" (case {index})",
                        "split": "test" if index % 5 == 0 else "train", "task_type": ["code", "translation",
                                                                                      "summarization", "math"][topic],
                        "domain": "technology" if topic in (0, 3) else "general"})
        rows.append(f"p{index},cheap,{0 if topic in (0, 3) else 1},0.0001,,")
        rows.append(f"p{index},pricey,{1 if rng.random() < 0.95 else 0},0.004,,")
    models = [{"name": "cheap", "provider": "acme", "input_price_per_mtok": 0.1, "output_price_per_mtok": 0.1},
              {"name": "pricey", "provider": "acme", "input_price_per_mtok": 4, "output_price_per_mtok": 4}]
    return write_bundle(prompts=prompts, results="\n".join(rows) + "\n", models=models, name="synthetic")


@pytest.fixture
def synthetic(synthetic_bundle: Any) -> Any:
    """The tiny bundle imported as dataset "synthetic"."""
    from django.core.management import call_command

    from registry.models import Dataset

    call_command("import_evaluations", str(synthetic_bundle), "--dataset", "synthetic")
    return Dataset.objects.get(name="synthetic")
