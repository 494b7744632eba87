"""The RouterBench and LLMRouter adapters on the real data in ../shared/data."""

import shutil

import pytest
from django.core.management import call_command

from registry.models import LLM, Dataset, EvaluationResult, ModelProfile, Prompt

pytestmark = pytest.mark.django_db


def test_it_imports_routerbench_and_drops_the_documented_caveats(shared_data, tmp_path):
    # ARC holds every caveat the README lists; one file pair keeps the test quick.
    for name in ("arc_challenge_train.csv", "arc_challenge_test.csv"):
        shutil.copy(shared_data / "routerbench" / name, tmp_path / name)

    call_command("import_evaluations", str(tmp_path), "--dataset", "rb", "--format", "routerbench")

    dataset = Dataset.objects.get(name="rb")
    dropped = dataset.stats["dropped"]
    assert dropped["duplicate ids"] >= 7 and dropped["test prompts also in train"] >= 6
    assert dropped["missing scores"] > 0
    train_ids = set(Prompt.objects.filter(split="train").values_list("external_id", flat=True))
    test_ids = set(Prompt.objects.filter(split="test").values_list("external_id", flat=True))
    assert not train_ids & test_ids
    assert len(train_ids) + len(test_ids) + sum(dropped.values()) == 1039 + 445
    assert LLM.objects.filter(provider__name="routerbench").count() == 11
    gpt4 = EvaluationResult.objects.filter(llm__name="gpt-4-1106-preview")
    assert gpt4.count() == dataset.stats["prompts"] and not gpt4.filter(cost_estimated=True).exists()
    assert Prompt.objects.filter(task_type="question_answering", source_label="arc-challenge").count() == len(
        train_ids | test_ids)
    assert ModelProfile.objects.filter(dataset=dataset, task_type="", domain="").count() == 11


def test_it_imports_llmrouter_with_prices_and_estimated_costs(shared_data, tmp_path):
    lines = (shared_data / "llmrouter" / "routing_data.jsonl").read_text().split("\n")
    train = [line for line in lines if '"split": "train"' in line][:300]
    test = [line for line in lines if '"split": "test"' in line]
    (tmp_path / "routing_data.jsonl").write_text("\n".join(train + test))
    shutil.copy(shared_data / "llmrouter" / "llm_candidates.json", tmp_path)

    call_command("import_evaluations", str(tmp_path), "--dataset", "llmr", "--format", "llmrouter")

    dataset = Dataset.objects.get(name="llmr")
    assert dataset.stats["train"] == 300
    assert dataset.stats["dropped"].get("test prompts also in train", 0) <= 119
    gemma = LLM.objects.get(name="gemma-2-9b-it")
    assert gemma.input_price_per_mtok == 0.10 and gemma.parameters_b == 9
    assert EvaluationResult.objects.filter(llm=gemma, cost_estimated=True).count() == dataset.stats["prompts"]
    assert EvaluationResult.objects.filter(llm__name="llama3-chatqa-1.5-70b").first().cost_usd > \
        EvaluationResult.objects.filter(llm=gemma).first().cost_usd
