"""Results may carry the model's response and the dimension their score measures; accuracy
evidence, profiles and difficulty read accuracy results only."""

import ast
import csv
import json

import pytest
from django.core.management import CommandError, call_command

from registry.models import LLM, Dataset, EvaluationResult, ModelProfile, Prompt
from routing.engine.snapshot import snapshots
from routing.evaluation.harness import _test_labels, baselines

pytestmark = pytest.mark.django_db

ACCURACY = (
    "prompt_id,model,score,cost_usd,input_tokens,output_tokens\n"
    "p1,big-model,1,0.002,,\np1,small-model,0,,20,100\n"
    "p2,big-model,1,0.001,,\np2,small-model,1,,,\n"
    "p3,big-model,0.5,0.003,,\np3,small-model,0.25,0.0001,,\n")
WITH_DIMENSIONS = (
    "prompt_id,model,score,cost_usd,input_tokens,output_tokens,response,dimension\n"
    "p1,big-model,1,0.002,,,\"def reverse(xs):\n    return xs[::-1]\",\n"
    "p1,small-model,0,,20,100,,accuracy\n"
    "p2,big-model,1,0.001,,,Paris.,accuracy\n"
    "p2,small-model,1,,,,\"Paris, of course.\",\n"
    "p3,big-model,0.5,0.003,,,,\np3,small-model,0.25,0.0001,,,,\n"
    # A helpful answer scored 0 for big-model must not touch its accuracy.
    "p1,big-model,0,0.002,,,\"def reverse(xs):\n    return xs[::-1]\",helpfulness\n"
    "p2,big-model,0,0.001,,,Paris.,helpfulness\n"
    "p1,small-model,1,,20,100,,helpfulness\n"
    "p2,big-model,0.8,0.001,,,Paris.,honesty\n")


def import_bundle(bundle, name="demo"):
    call_command("import_evaluations", str(bundle), "--dataset", name)
    return Dataset.objects.get(name=name)


def test_it_stores_responses_and_one_row_per_dimension(write_bundle):
    dataset = import_bundle(write_bundle(results=WITH_DIMENSIONS))

    results = EvaluationResult.objects.filter(prompt__dataset=dataset)
    assert dataset.stats["results"] == results.count() == 10
    assert dataset.stats["dimensions"] == {"accuracy": 6, "helpfulness": 3, "honesty": 1}
    assert results.accuracy().count() == 6
    big_p1 = results.filter(prompt__external_id="p1", llm__name="big-model")
    assert {r.dimension: r.score for r in big_p1} == {"accuracy": 1.0, "helpfulness": 0.0}
    assert all(r.response == "def reverse(xs):\n    return xs[::-1]" for r in big_p1)
    assert results.get(prompt__external_id="p2", llm__name="small-model").response == "Paris, of course."
    assert results.get(prompt__external_id="p3", llm__name="small-model").response == ""


def test_it_reads_response_and_dimension_from_jsonl(write_bundle):
    bundle = write_bundle(results="")
    (bundle / "results.csv").unlink()
    rows = [{"prompt_id": "p1", "model": "big-model", "score": 1, "response": "ok"},
            {"prompt_id": "p1", "model": "big-model", "score": 0.75, "dimension": "creativity", "response": ""},
            {"prompt_id": "p2", "model": "big-model", "score": 1, "dimension": "accuracy"},
            {"prompt_id": "p3", "model": "big-model", "score": 1}]
    (bundle / "results.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")

    dataset = import_bundle(bundle)

    p1 = EvaluationResult.objects.filter(prompt__dataset=dataset, prompt__external_id="p1")
    assert {(r.dimension, r.score, r.response) for r in p1} == {("accuracy", 1.0, "ok"), ("creativity", 0.75, "")}


def test_it_computes_profiles_per_dimension_and_keeps_accuracy_profiles(write_bundle):
    plain = import_bundle(write_bundle(results=ACCURACY, name="plain"), "plain")
    mixed = import_bundle(write_bundle(results=WITH_DIMENSIONS, name="mixed"), "mixed")

    def accuracy_profiles(dataset):
        return sorted((p.llm.name, p.task_type, p.domain, p.n, p.mean_score, p.cost, p.mean_cost_usd,
                       None if p.embedding is None else [round(float(x), 6) for x in p.embedding])
                      for p in ModelProfile.objects.accuracy().filter(dataset=dataset))

    assert accuracy_profiles(mixed) == accuracy_profiles(plain)
    helpful = ModelProfile.objects.get(dataset=mixed, dimension="helpfulness", llm__name="big-model",
                                       task_type="", domain="")
    assert helpful.n == 2 and helpful.mean_score == 0.0
    assert ModelProfile.objects.get(dataset=mixed, dimension="honesty", task_type="", domain="").mean_score == 0.8


def test_it_keeps_accuracy_evidence_priors_and_difficulty_free_of_other_dimensions(write_bundle):
    dataset = import_bundle(write_bundle(results=WITH_DIMENSIONS))
    big = LLM.objects.get(name="big-model")

    snapshot = snapshots.get(fresh=True)
    prior = snapshot.prior(big.id, "", (dataset.id,))
    assert (prior.quality, prior.n) == (1.0, 2)  # the helpfulness zeros are not in its accuracy
    assert snapshot.prior(big.id, "code", (dataset.id,)).quality == 1.0
    p1, p2 = Prompt.objects.get(external_id="p1"), Prompt.objects.get(external_id="p2")
    scores, _ = snapshot.evidence.neighbourhood([p1.id, p2.id], [big.id])
    assert scores[:, 0].tolist() == [1.0, 1.0]
    assert p2.difficulty == 0.0  # both models answered it correctly


def test_the_evaluation_harness_scores_accuracy_only(write_bundle):
    plain = import_bundle(write_bundle(results=ACCURACY, name="plain"), "plain")
    plain_baselines = baselines(plain, _test_labels(plain))
    mixed_results = WITH_DIMENSIONS + "p3,big-model,0,0.003,,,,helpfulness\np3,small-model,1,0.0001,,,,helpfulness\n"
    mixed = import_bundle(write_bundle(results=mixed_results, name="mixed"), "mixed")

    assert baselines(mixed, _test_labels(mixed)) == plain_baselines


def test_it_refuses_an_unknown_dimension_naming_file_line_and_value(write_bundle):
    bundle = write_bundle(results="prompt_id,model,score,dimension\np1,big-model,1,accuracy\np1,big-model,1,speed\n")

    with pytest.raises(CommandError) as info:
        import_bundle(bundle)

    assert "results.csv line 3: dimension must be one of accuracy, helpfulness" in str(info.value)
    assert "got 'speed'" in str(info.value)
    assert not Dataset.objects.exists() and not EvaluationResult.objects.exists()


def test_it_refuses_a_duplicate_result_for_the_same_dimension(write_bundle):
    bundle = write_bundle(results="prompt_id,model,score,dimension\n"
                                  "p1,big-model,1,helpfulness\np1,big-model,1,\np1,big-model,0,helpfulness\n")

    with pytest.raises(CommandError) as info:
        import_bundle(bundle)

    assert "results.csv line 4: duplicate result for prompt 'p1', model 'big-model' and dimension " \
           "'helpfulness' (first on line 2)" in str(info.value)
    assert not EvaluationResult.objects.exists()


def test_it_refuses_a_response_that_is_not_text(write_bundle):
    bundle = write_bundle(results="")
    (bundle / "results.csv").unlink()
    (bundle / "results.jsonl").write_text(json.dumps({"prompt_id": "p1", "model": "big-model", "score": 1,
                                                      "response": ["a", "list"]}) + "\n")

    with pytest.raises(CommandError) as info:
        import_bundle(bundle)

    assert "results.jsonl line 1: response must be a string, got list" in str(info.value)


def test_it_keeps_the_content_hash_of_bundles_without_the_new_columns(write_bundle):
    # The digest this bundle had before results could carry responses and dimensions: datasets
    # imported then are not imported again for nothing.
    assert import_bundle(write_bundle()).content_hash == \
        "0ca99e7d91fb458acc65edad5819b845b7990076e21a3199c088674c08626753"


def test_it_reimports_when_only_a_response_changes(write_bundle, capsys):
    first = write_bundle(results=WITH_DIMENSIONS, name="first")
    import_bundle(first)
    import_bundle(first)
    assert "unchanged" in capsys.readouterr().out

    import_bundle(write_bundle(results=WITH_DIMENSIONS.replace("Paris.,honesty", "Lyon.,honesty"), name="second"))

    assert "unchanged" not in capsys.readouterr().out
    assert EvaluationResult.objects.get(dimension="honesty").response == "Lyon."

def test_it_stores_routerbench_responses(shared_data, tmp_path):
    source = shared_data / "routerbench" / "mbpp_test.csv"
    (tmp_path / source.name).write_bytes(source.read_bytes())

    call_command("import_evaluations", str(tmp_path), "--dataset", "rb", "--format", "routerbench")

    csv.field_size_limit(1 << 30)
    rows = list(csv.DictReader(source.open(encoding="utf-8")))
    assert not EvaluationResult.objects.filter(response="").exists()
    for row in rows[:3]:
        for model in ("gpt-4-1106-preview", "meta/llama-2-70b-chat"):
            stored = EvaluationResult.objects.get(prompt__external_id=row["sample_id"], llm__name=model)
            # The README: each response cell is a Python list literal holding one string.
            assert stored.response == ast.literal_eval(row[f"{model}|model_response"])[0]


def test_it_refuses_a_routerbench_response_it_cannot_read(tmp_path):
    header = "sample_id,prompt,eval_name,m1,m1|model_response,m1|total_cost\n"
    (tmp_path / "tiny_train.csv").write_text(header + "a.1,\"['Say hi.']\",mbpp,1,\"['hi']\",0.001\n"
                                                      "a.2,\"['Say bye.']\",mbpp,1,\"['bye\",0.001\n")

    with pytest.raises(CommandError) as info:
        call_command("import_evaluations", str(tmp_path), "--dataset", "rb", "--format", "routerbench")

    assert "tiny_train.csv line 3: m1|model_response is not a readable list literal" in str(info.value)
    assert not EvaluationResult.objects.exists()
