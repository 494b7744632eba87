from pathlib import Path

import pytest
from django.core.management import call_command

from registry.models import LLM, Dataset, EvaluationResult, ModelProfile, Prompt

pytestmark = pytest.mark.django_db


def test_it_imports_a_bundle_with_embeddings_and_profiles(write_bundle):
    call_command("import_evaluations", str(write_bundle()), "--dataset", "demo")

    dataset = Dataset.objects.get(name="demo")
    assert dataset.stats["prompts"] == 3 and dataset.stats["results"] == 6
    assert set(Prompt.objects.values_list("split", flat=True)) == {"train", "test"}
    assert all(len(p.embedding) == 384 for p in Prompt.objects.all())
    big = LLM.objects.get(name="big-model")
    assert big.provider.name == "acme" and big.is_generalist and big.helpfulness == 0.9
    overall = ModelProfile.objects.get(llm=big, dataset=dataset, task_type="", domain="")
    assert overall.n == 2 and overall.mean_score == 1.0  # train split only
    assert ModelProfile.objects.get(llm__name="small-model", task_type="", domain="").cost == 1.0
    assert ModelProfile.objects.filter(task_type="code").count() == 2


def test_it_estimates_missing_costs_from_tokens_then_prompt_length(write_bundle):
    call_command("import_evaluations", str(write_bundle()), "--dataset", "demo")

    from_tokens = EvaluationResult.objects.get(prompt__external_id="p1", llm__name="small-model")
    assert from_tokens.cost_estimated
    assert from_tokens.cost_usd == pytest.approx((20 * 0.1 + 100 * 0.4) / 1e6)
    from_length = EvaluationResult.objects.get(prompt__external_id="p2", llm__name="small-model")
    assert from_length.cost_estimated and from_length.cost_usd > 0
    recorded = EvaluationResult.objects.get(prompt__external_id="p1", llm__name="big-model")
    assert not recorded.cost_estimated and recorded.cost_usd == 0.002


def test_it_changes_nothing_when_the_same_data_is_imported_twice(write_bundle, capsys):
    bundle = write_bundle()
    call_command("import_evaluations", str(bundle), "--dataset", "demo")
    before = sorted(Prompt.objects.values_list("id", "external_id"))
    results_before = EvaluationResult.objects.count()

    call_command("import_evaluations", str(bundle), "--dataset", "demo")

    assert "unchanged" in capsys.readouterr().out
    assert sorted(Prompt.objects.values_list("id", "external_id")) == before
    assert EvaluationResult.objects.count() == results_before
    assert LLM.objects.filter(name__in=["big-model", "small-model"]).count() == 2


def test_it_registers_unknown_models_only_when_asked(write_bundle):
    bundle = write_bundle(models=[])
    call_command("import_evaluations", str(bundle), "--dataset", "demo", "--create-models")
    assert set(LLM.objects.values_list("name", flat=True)) >= {"big-model", "small-model"}


def test_it_warns_about_unknown_model_keys(write_bundle, capsys):
    bundle = write_bundle(models=[{"name": "big-model", "colour": "blue"}, {"name": "small-model"}])
    call_command("import_evaluations", str(bundle), "--dataset", "demo")
    assert "unknown key 'colour' ignored" in capsys.readouterr().err


def test_it_registers_the_starter_catalog(tmp_path: Path):
    call_command("import_models")
    local = LLM.objects.get(name="smollm2-135m-instruct")
    assert local.is_local and local.provider.has_credentials()
    assert LLM.objects.count() >= 15
    assert LLM.objects.generalists().count() >= 3
    assert all(b["source"] for m in LLM.objects.all() for b in m.benchmarks)
    call_command("import_models")  # idempotent
    assert LLM.objects.filter(name="smollm2-135m-instruct").count() == 1
