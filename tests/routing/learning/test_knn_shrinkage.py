"""The k-NN strategy's shrinkage: fitted on the evidence, per scope, versioned, used by routing."""

import random

import numpy as np
import pytest
from django.core.management import call_command

from registry.models import Dataset
from routing.analysis.serving import analyze
from routing.engine.request import Request
from routing.engine.snapshot import snapshots
from routing.engine.strategies import KnnStrategy
from routing.learning import quality
from routing.learning.estimator import ALL_DATASETS, RECIPE, estimator_train, estimators
from routing.models import EstimatorVersion
from routing.pipeline import evidence_gather

KNN = {"temperature": 0.05, "prior_strength": 2.0, "relevant_similarity": 0.3}


def _clusters(rng: np.random.Generator, n_per: int, rates: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Prompts in tight clusters, one per rate, around random directions; which cluster each is in."""
    centres = rng.normal(size=(len(rates), 32))
    labels = np.repeat(np.arange(len(rates)), n_per)
    x = centres[labels] + 0.3 * rng.normal(size=(len(labels), 32))
    return x / np.linalg.norm(x, axis=1, keepdims=True), labels


def test_neighbours_that_predict_outcomes_keep_their_weight():
    rng = np.random.default_rng(0)
    rates = [0.1, 0.9, 0.2, 0.8]
    x, labels = _clusters(rng, 80, rates)
    y = (rng.random((len(x), 1)) < np.array(rates)[labels][:, None]).astype(float)
    share = quality.fit_shrinkage(x, y, np.full_like(y, y.mean()), k=50, knn=KNN)
    assert share > 0.8


def test_neighbours_that_are_a_random_draw_give_way_to_the_prior():
    rng = np.random.default_rng(1)
    x, _ = _clusters(rng, 80, [0.5] * 4)
    y = (rng.random((len(x), 2)) < [0.6, 0.3]).astype(float)
    y[::7, 1] = np.nan  # a model without a result on some prompts
    share = quality.fit_shrinkage(x, y, np.tile(np.nanmean(y, axis=0), (len(y), 1)), k=50, knn=KNN)
    assert share < 0.2


def test_too_little_evidence_leaves_the_estimate_alone():
    assert quality.fit_shrinkage(np.eye(2), np.ones((2, 1)), np.ones((2, 1)), k=50, knn=KNN) == 1.0


def test_the_estimate_is_the_same_for_one_request_and_for_a_batch():
    rng = np.random.default_rng(2)
    scores = np.where(rng.random((5, 50, 3)) < 0.1, np.nan, rng.random((5, 50, 3)))
    sims = np.sort(rng.uniform(0.1, 0.9, (5, 50)))[:, ::-1]
    priors = rng.random((5, 3))
    batch, weight = quality.neighbour_estimate(scores, sims, priors, **KNN)
    for i in range(5):
        one, one_weight = quality.neighbour_estimate(scores[i], sims[i], priors[i], **KNN)
        assert np.allclose(one, batch[i]) and np.allclose(one_weight, weight[i])
    # No neighbours at all: the prior, with no weight.
    alone, none = quality.neighbour_estimate(np.empty((0, 3)), np.empty(0), priors[0], **KNN)
    assert np.allclose(alone, priors[0]) and not none.any()


CODE = ["Write a Python function that {}.", "Implement in Python a function that {}."]
TASKS = ["sorts a list of numbers", "merges two dictionaries", "parses an ISO date", "counts the vowels in a word",
         "reverses a linked list", "finds the median of a list", "checks for a palindrome", "flattens nested lists"]
TRIVIA = ["What is the capital of {}?", "Which language is spoken in {}?"]
PLACES = ["France", "Peru", "Japan", "Kenya", "Norway", "Chile", "Egypt", "Canada"]


def _import(write_bundle, name: str, informative: bool) -> Dataset:
    """Two kinds of prompt under one task label, so the task-level prior cannot tell them apart:
    the cheap model fails code and answers trivia when `informative`, and succeeds at random on
    both otherwise."""
    rng = random.Random(name)
    prompts, rows = [], ["prompt_id,model,score,cost_usd,input_tokens,output_tokens"]
    for index in range(96):
        code = index % 2 == 0
        template = rng.choice(CODE if code else TRIVIA)
        text = template.format(rng.choice(TASKS if code else PLACES)) + f" (item {index})"
        prompts.append({"prompt_id": f"{name}{index}", "prompt": text, "task_type": "code"})
        cheap = (0 if code else 1) if informative else int(rng.random() < 0.5)
        rows.append(f"{name}{index},cheap-{name},{cheap},0.0001,,")
        rows.append(f"{name}{index},pricey-{name},1,0.004,,")
    models = [{"name": f"cheap-{name}", "provider": "acme", "input_price_per_mtok": 0.1, "output_price_per_mtok": 0.1},
              {"name": f"pricey-{name}", "provider": "acme", "input_price_per_mtok": 4, "output_price_per_mtok": 4}]
    call_command("import_evaluations", str(write_bundle(prompts=prompts, results="\n".join(rows) + "\n",
                                                        models=models, name=name)), "--dataset", name)
    return Dataset.objects.get(name=name)


@pytest.mark.django_db
def test_each_evidence_scope_gets_its_own_factor_and_routing_uses_it(write_bundle):
    telling = _import(write_bundle, "telling", informative=True)
    noisy = _import(write_bundle, "noisy", informative=False)

    version = estimator_train()

    assert version is not None and version.metrics["recipe"] == RECIPE
    shares = version.knn_shrinkage
    assert set(shares) == {str(telling.pk), str(noisy.pk), ALL_DATASETS}
    assert all(0.0 <= share <= 1.0 for share in shares.values())
    assert shares[str(telling.pk)] > 0.8 > shares[str(noisy.pk)]

    snapshot = snapshots.get()
    analysis, vector = analyze("Write a Python function that sums a list.")
    for dataset in (telling, noisy):
        request = Request(text="", vector=vector, tokens=analysis.tokens, task_type="code",
                                 task_confidence=1.0, domain="general", domain_confidence=1.0,
                                 dataset_ids=(dataset.pk,))
        models = [m for m in snapshot.models.values() if m.id in snapshot.dataset_models[dataset.pk]]
        neighbours = evidence_gather(request)
        estimated = KnnStrategy().quality(request, models, snapshot, neighbours)
        scores, _ = request.neighbourhood(snapshot, neighbours, models)
        priors = np.array([snapshot.prior(m.id, "code", (dataset.pk,)).quality for m in models])
        raw, _ = quality.neighbour_estimate(scores, np.array([s for _, s in neighbours]), priors, **KNN)
        share = shares[str(dataset.pk)]
        for model, prior, neighbourly in zip(models, priors, raw, strict=True):
            assert estimated[model.id][0] == pytest.approx(prior + share * (neighbourly - prior), abs=1e-5)


@pytest.mark.django_db
def test_a_version_fitted_by_an_older_recipe_is_refitted_on_first_use(write_bundle):
    _import(write_bundle, "telling", informative=True)
    old = estimator_train()
    # As an older release left it: another recipe, so another training hash, and no factors.
    EstimatorVersion.objects.filter(pk=old.pk).update(metrics={"recipe": "older"}, training_hash="older",
                                                      knn_shrinkage={})
    estimators.clear()

    current = estimators.get()

    assert current is not None and current.version_id != old.pk
    assert EstimatorVersion.objects.get(pk=current.version_id).metrics["recipe"] == RECIPE
    assert set(current.shrinkage) >= {ALL_DATASETS}


@pytest.mark.django_db
def test_a_decision_records_the_estimator_version_it_used(write_bundle, api):
    _import(write_bundle, "telling", informative=True)
    version = estimator_train()
    response = api.post("/api/v1/route", {"prompt": "Write a Python function that sums a list."}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["versions"]["estimator"] == version.pk


@pytest.mark.django_db
def test_without_evidence_routing_neither_trains_nor_reloads_the_registry():
    snapshot = snapshots.get()
    assert estimators.get() is None
    assert snapshots.get() is snapshot and not EstimatorVersion.objects.exists()
