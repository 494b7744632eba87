"""The task analyzer: pruning, classification, complexity learned from outcomes, versioning."""

from __future__ import annotations

import json
import math
import pickle
import re
from dataclasses import fields
from typing import Any

import pytest

from registry.embedder import get_embedder
from registry.models import Dataset, Prompt
from routing.analysis import text as analyzer
from routing.analysis import training
from routing.analysis.serving import Analysis, analyze, analyzers
from routing.analysis.text import prune
from routing.analysis.training import analyzer_train
from routing.models import AnalyzerVersion
from routing.tasks import analyzer_train_task

pytestmark = pytest.mark.django_db

ROMAN = [f"{ask} {subject}?" for ask in ["What caused", "Explain", "Describe the legacy of",
                                          "Who opposed"]
         for subject in ["the reign of Augustus", "the Punic Wars", "Caesar crossing the Rubicon",
                         "the fall of the Roman Republic", "the reforms of Diocletian",
                         "the Praetorian Guard in imperial Rome"]]
PLANTS = [f"{ask} {plant}?" for ask in ["How often should I water", "How much light does",
                                        "When should I repot", "Why are the leaves yellowing on"]
          for plant in ["my monstera", "a peace lily", "a spider plant", "my fiddle leaf fig",
                        "a pothos", "an aloe vera plant"]]


@pytest.fixture(autouse=True)
def always_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test rolls back its versions; the per-process cache must not outlive them.
    monkeypatch.setattr(analyzers, "recheck_seconds", 0.0)


def huge_prompt(words: int = 50_000) -> str:
    filler = " ".join(f"Row {i} of the ledger lists {i % 97} crates of pears shipped to port {i % 13}."
                      for i in range(words // 15))
    return f"Instructions: audit this shipping ledger carefully. {filler} Question: which port got most?"


def add_prompts(dataset: Dataset, texts: list[str], *, split: str = "train", embed: bool = True,
                **labels: Any) -> list[Prompt]:
    vectors = get_embedder().encode(texts) if embed else [None] * len(texts)
    start = dataset.prompts.count()
    return Prompt.objects.bulk_create([
        Prompt(dataset=dataset, external_id=f"{split}-{start + i}", text=text, embedding=vector,
               split=split, **labels) for i, (text, vector) in enumerate(zip(texts, vectors, strict=True))])


def make_dataset(name: str = "evidence", *, embedded: bool = True) -> Dataset:
    stats = {"embedder": get_embedder().name} if embedded else {}
    return Dataset.objects.create(name=name, source_format="bundle", content_hash=name, stats=stats)


def test_it_prunes_a_huge_prompt_to_its_ends_and_a_sample_of_its_middle() -> None:
    text = huge_prompt()
    pruned, was_pruned = prune(text)
    assert was_pruned
    assert pruned.split()[:3] == ["Instructions:", "audit", "this"]
    assert pruned.split()[-3:] == ["port", "got", "most?"]
    assert len(pruned.split()) < len(text.split()) / 20
    rows = {int(n) for n in re.findall(r"Row (\d+) ", pruned)}
    assert len({n for n in rows if 100 < n < 3200}) == analyzer.PRUNE_MIDDLE_SENTENCES
    assert prune(text) == (pruned, True)


def test_it_leaves_prompts_under_the_threshold_alone() -> None:
    text = " ".join(["word"] * (analyzer.PRUNE_MIN_WORDS - 1))
    assert prune(text) == (text, False)
    assert prune("Translate 'hello' into French") == ("Translate 'hello' into French", False)


def test_it_counts_the_tokens_of_the_full_text_of_a_pruned_prompt() -> None:
    text = huge_prompt()
    analysis, vector = analyze(text)
    assert analysis.pruned
    assert analysis.tokens == math.ceil(len(text) / 4)
    assert vector.shape == (384,)


@pytest.mark.parametrize(("text", "task_type", "domain"), [
    ("Translate 'good morning' into Spanish", "translation", None),
    ("Write a Python function that merges two sorted lists", "code", "software"),
    ("What are the side effects of ibuprofen?", None, "medical"),
    ("Solve for x: 3x + 7 = 22", "math", None),
    ("Write a short poem about autumn leaves", "creative_writing", None),
])
def test_it_classifies_clear_requests(text: str, task_type: str | None, domain: str | None) -> None:
    analysis, _ = analyze(text)
    if task_type:
        assert analysis.task_type == task_type, analysis
    if domain:
        assert analysis.domain == domain, analysis
    assert 0 < analysis.task_confidence <= 1 and 0 < analysis.domain_confidence <= 1


def test_it_gives_the_fitted_classifiers_probabilities() -> None:
    analysis, vector = analyze("Summarise this contract clause in plain English for a tenant.")
    estimators = pickle.loads(bytes(AnalyzerVersion.objects.get(pk=analysis.analyzer_version).artifact))
    probabilities = estimators["task_type"].predict_proba(vector[None, :])[0]
    assert analysis.task_confidence == pytest.approx(probabilities.max())
    assert analysis.task_type == estimators["task_type"].classes_[probabilities.argmax()]


def test_it_falls_back_to_neutral_complexity_without_outcomes() -> None:
    analysis, _ = analyze("Explain the causes of the First World War.")
    assert (analysis.complexity, analysis.complexity_confidence) == (0.5, 0.0)


def test_it_learns_complexity_from_outcomes_not_words() -> None:
    dataset = make_dataset()
    romans = add_prompts(dataset, ROMAN, difficulty=0.9)
    plants = add_prompts(dataset, PLANTS, difficulty=0.1)
    roman_query, plant_query = "Why did the Roman Senate lose power under the emperors?", \
        "Should I mist the leaves of my rubber plant?"

    version = analyzer_train()
    assert version.metrics["registry"]["difficulty"] == len(ROMAN) + len(PLANTS)
    hard, easy = analyze(roman_query)[0], analyze(plant_query)[0]
    assert hard.complexity > easy.complexity + 0.3, (hard, easy)
    assert hard.complexity_confidence > 0.5

    # The same words with the outcomes swapped: the ranking must follow the outcomes.
    Prompt.objects.filter(pk__in=[p.pk for p in romans]).update(difficulty=0.1)
    Prompt.objects.filter(pk__in=[p.pk for p in plants]).update(difficulty=0.9)
    analyzer_train()
    assert analyze(roman_query)[0].complexity < analyze(plant_query)[0].complexity - 0.3


def test_it_never_trains_on_test_prompts() -> None:
    dataset = make_dataset()
    add_prompts(dataset, PLANTS, task_type="question_answering", domain="general", difficulty=0.2)
    add_prompts(dataset, ROMAN, split="test", task_type="translation", domain="legal", difficulty=1.0)
    version = analyzer_train()
    assert version.metrics["registry"] == {"task_type": len(PLANTS), "domain": len(PLANTS),
                                           "difficulty": len(PLANTS)}

    # Test prompts changing, appearing or vanishing leaves the training data untouched.
    Prompt.objects.test().update(difficulty=0.0, task_type="math")
    add_prompts(dataset, ["A brand new held-out prompt"], split="test", task_type="code", difficulty=0.5)
    assert analyzer_train().pk == version.pk
    Prompt.objects.test().delete()
    assert analyzer_train().pk == version.pk


def test_it_skips_unknown_labels_and_caps_prompts_per_label(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training, "REGISTRY_PER_LABEL", 5)
    dataset = make_dataset()
    add_prompts(dataset, PLANTS[:12], task_type="question_answering", domain="gardening")
    add_prompts(dataset, ROMAN[:3], task_type="trivia", domain="general")
    registry = analyzer_train().metrics["registry"]
    assert registry == {"task_type": 5, "domain": 3, "difficulty": 0}


def test_it_retrains_only_when_the_training_data_changes() -> None:
    # Versions made by this test only: a worker may have committed one for an earlier test's import.
    earlier = list(AnalyzerVersion.objects.values_list("pk", flat=True))
    dataset = make_dataset(embedded=False)
    add_prompts(dataset, PLANTS[:6], embed=False, task_type="question_answering", difficulty=0.3)
    first = analyzer_train()
    assert first.metrics["reencoded"] == 6
    assert analyzer_train().pk == first.pk
    assert AnalyzerVersion.objects.exclude(pk__in=earlier).count() == 1

    Prompt.objects.filter(dataset=dataset).update(difficulty=0.6)
    second = analyzer_train()
    assert second.pk != first.pk and second.training_hash != first.training_hash
    assert analyzer_train(force=True).pk not in {first.pk, second.pk}


def test_it_reports_cross_validated_quality() -> None:
    metrics = analyzer_train().metrics
    assert metrics["seed"] > 400
    assert metrics["task_type_cv_accuracy"] > 0.6 and metrics["domain_cv_accuracy"] > 0.6
    assert metrics["embedder"] == get_embedder().name


def test_it_serialises_every_field_of_the_analysis() -> None:
    analysis, _ = analyze("How do I reverse a linked list in Java?")
    data = json.loads(json.dumps(analysis.as_dict()))
    assert set(data) == {f.name for f in fields(Analysis)}
    assert data["analyzer_version"] == AnalyzerVersion.objects.latest("id").pk
    assert data["pruned"] is False and data["tokens"] == 10
    assert 0 <= data["complexity"] <= 1 and 0 <= data["complexity_confidence"] <= 1


def test_it_keeps_its_version_cached_until_the_recheck(monkeypatch: pytest.MonkeyPatch,
                                                       django_assert_num_queries: Any) -> None:
    first = analyze("hello there")[0].analyzer_version
    monkeypatch.setattr(analyzers, "recheck_seconds", 3600.0)
    newer = analyzer_train(force=True)
    with django_assert_num_queries(0):
        assert analyze("hello there")[0].analyzer_version == first
    monkeypatch.setattr(analyzers, "recheck_seconds", 0.0)
    assert analyze("hello there")[0].analyzer_version == newer.pk


def test_it_trains_from_a_repeatable_task() -> None:
    version_id = analyzer_train_task.apply().get()
    assert analyzer_train_task.apply().get() == version_id == AnalyzerVersion.objects.get().pk
