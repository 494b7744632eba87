"""Searches scoped to some datasets, and routing on what they return: k neighbours from the scope
however small a share of the index it is, and a smaller neighbourhood, never an error, when the
scope holds fewer."""

import random

import numpy as np
import pytest
from django.db import connection

from registry import vector_search
from registry.embedder import get_embedder
from registry.models import LLM, Dataset, EvaluationResult, Prompt, Provider
from registry.services import profiles_compute
from routing.engine.request import Request
from routing.engine.scoring import choose
from routing.engine.snapshot import snapshots
from routing.engine.strategies import STRATEGIES, KnnStrategy
from routing.evaluation.harness import evaluate
from routing.learning.estimator import estimators
from routing.pipeline import estimates_for, evidence_gather

pytestmark = pytest.mark.django_db

DIMS = 384


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.normal(size=(n, DIMS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _dataset(name: str, vectors: np.ndarray, split: str = "train") -> tuple[Dataset, list[int]]:
    # Stored vectors of the embedder in use, as an import leaves them (the estimator trains on them).
    dataset = Dataset.objects.create(name=name, source_format="bundle", content_hash=name,
                                     stats={"embedder": get_embedder().name})
    return dataset, _prompts(dataset, vectors, split)


def _prompts(dataset: Dataset, vectors: np.ndarray, split: str) -> list[int]:
    created = Prompt.objects.bulk_create([Prompt(dataset=dataset, external_id=f"{split}{i}", text=f"{dataset.name} {i}",
                                                 embedding=v, split=split) for i, v in enumerate(vectors)],
                                         batch_size=1000)
    return [p.pk for p in created]


@pytest.fixture(scope="module")
def registry_of_three(django_db_setup, django_db_blocker):
    """3,000 train prompts in three datasets; the scope, `small`, holds 60 of them (and test
    prompts, which are not in the index). Built once for the module (the HNSW inserts take
    a while) and committed; each test's own rows roll back."""
    rng = np.random.default_rng(11)
    datasets = {}
    with django_db_blocker.unblock():
        for name, n in (("large", 2000), ("medium", 940), ("small", 60)):
            vectors = _unit(rng, n)
            dataset, ids = _dataset(name, vectors)
            datasets[name] = (dataset, ids, vectors)
        datasets["small-test"] = (_dataset("small-test", _unit(rng, 40), split="test")[0], [], None)
        with connection.cursor() as cursor:
            # Earlier tests leave dead rows in the index (rolled-back inserts): vacuumed away, as
            # autovacuum does in a running registry, so recall measures the graph of these rows.
            cursor.execute("VACUUM ANALYZE registry_prompt")
    yield datasets
    with django_db_blocker.unblock():
        Dataset.objects.filter(pk__in=[dataset.pk for dataset, _, _ in datasets.values()]).delete()


@pytest.fixture(params=["planned", "hnsw"])
def plan(request):
    """Each search as the planner plans it (for a scope this small, an exact scan of the scope's
    rows) and through the HNSW index, the plan of a scope that is a large share of the index."""
    if request.param == "hnsw":
        with connection.cursor() as cursor:  # for the test's transaction only
            cursor.execute("SET LOCAL enable_sort = off")
    return request.param


def _exact(query: np.ndarray, ids: list[int], vectors: np.ndarray, k: int) -> list[int]:
    order = np.argsort(-(vectors @ query), kind="stable")[:k]
    return [ids[i] for i in order]


def test_it_returns_the_k_nearest_of_a_small_scope_inside_a_large_index(registry_of_three, plan):
    small, ids, vectors = registry_of_three["small"]
    queries = _unit(np.random.default_rng(5), 10)
    hits = 0
    for query in queries:
        found = Prompt.objects.nearest_train_ids(query, 50, dataset_ids=(small.pk,))
        assert len(found) == 50
        assert {pid for pid, _ in found} <= set(ids)
        assert [sim for _, sim in found] == sorted((sim for _, sim in found), reverse=True)
        hits += len({pid for pid, _ in found} & set(_exact(query, ids, vectors, 50)))
    assert hits / (50 * len(queries)) >= 0.95


def test_a_scope_smaller_than_k_returns_all_it_holds(registry_of_three, plan):
    small, ids, _ = registry_of_three["small"]
    tiny, tiny_ids = _dataset("tiny", _unit(np.random.default_rng(9), 20))
    query = _unit(np.random.default_rng(6), 1)[0]

    assert {pid for pid, _ in Prompt.objects.nearest_train_ids(query, 50, dataset_ids=(tiny.pk,))} == set(tiny_ids)
    both = Prompt.objects.nearest_train_ids(query, 100, dataset_ids=(small.pk, tiny.pk))
    assert {pid for pid, _ in both} == set(ids) | set(tiny_ids)
    only_test = registry_of_three["small-test"][0]
    assert Prompt.objects.nearest_train_ids(query, 50, dataset_ids=(only_test.pk,)) == []


def test_a_scope_spanning_datasets_gets_the_nearest_of_their_union(registry_of_three, plan):
    (small, small_ids, small_vectors), (medium, medium_ids, medium_vectors) = (registry_of_three["small"],
                                                                               registry_of_three["medium"])
    ids, vectors = small_ids + medium_ids, np.vstack([small_vectors, medium_vectors])
    # Recall over several queries, as for one scope: on random 384-dimensional vectors (HNSW's
    # hardest case) a single query's recall may fall a row or two short of 95%.
    picks = [3, 17, 41] + [len(small_ids) + i for i in (5, 200, 600, 900)]
    hits = 0
    for pick in picks:
        found = Prompt.objects.nearest_train_ids(vectors[pick], 50, dataset_ids=(small.pk, medium.pk))
        assert found[0][0] == ids[pick]
        assert len(found) == 50
        hits += len({pid for pid, _ in found} & set(_exact(vectors[pick], ids, vectors, 50)))
    assert hits / (50 * len(picks)) >= 0.95


def test_the_database_runs_pgvector_0_8(registry_of_three, plan):
    small, _, vectors = registry_of_three["small"]
    planned = vector_search.explain(vectors[0], 50, dataset_ids=(small.pk,))
    assert ("prompt_embedding_hnsw" in planned) == (plan == "hnsw")
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        version = cursor.fetchone()[0]
    assert tuple(int(part) for part in version.split(".")[:2]) >= (0, 8)


# ------------------------------------------------------------------ routing on what a search returns


def _evidence(dataset: Dataset, prompt_ids: list[int], models: list[LLM]) -> None:
    """Results of the models on these prompts (the pricier model the better), and the dataset's profiles."""
    rng = random.Random(dataset.name)
    EvaluationResult.objects.bulk_create([
        EvaluationResult(prompt_id=pid, llm=llm, score=float(rng.random() < 0.3 + 0.4 * j), cost_usd=0.001 * (j + 1))
        for pid in prompt_ids for j, llm in enumerate(models)])
    profiles_compute(dataset=dataset)


@pytest.fixture
def scoped_evidence(registry_of_three):
    """Two models evaluated on every prompt of `small` (60 train prompts)."""
    small, ids, vectors = registry_of_three["small"]
    provider = Provider.objects.create(name="acme", kind=Provider.Kind.EVALUATION)
    models = [LLM.objects.create(name=name, provider=provider, input_price_per_mtok=price, output_price_per_mtok=price)
              for name, price in (("cheap", 0.1), ("pricey", 4.0))]
    _evidence(small, ids, models)
    snapshots.clear()
    return small, vectors, models


def _request(vector: np.ndarray, dataset: Dataset) -> Request:
    return Request(text="", vector=vector, tokens=20, task_type="chat", task_confidence=0.0,
                          domain="general", domain_confidence=0.0, dataset_ids=(dataset.pk,))


def test_a_second_search_of_one_request_gets_its_own_neighbourhood(scoped_evidence):
    """The evaluation estimates each request once per strategy; another search may return fewer
    neighbours than the first, and must not be scored on the first one's."""
    small, vectors, models = scoped_evidence
    snapshot = snapshots.get()
    request = _request(vectors[0], small)
    knn = KnnStrategy()
    first = evidence_gather(request)
    fewer = first[5:25]
    assert len(first) == 50

    knn.quality(request, models, snapshot, first)
    estimated = knn.quality(request, models, snapshot, fewer)

    scores, costs = request.neighbourhood(snapshot, fewer, models)
    assert scores.shape == costs.shape == (20, len(models))
    assert estimated == knn.quality(_request(vectors[0], small), models, snapshot, fewer)
    assert request.neighbourhood(snapshot, first, models)[0].shape == (50, len(models))


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("found", [0, 1, 7])
def test_routing_on_fewer_neighbours_than_k_is_a_smaller_neighbourhood(scoped_evidence, strategy, found):
    _, vectors, models = scoped_evidence
    few, ids = _dataset("few", vectors[:max(found, 3)] + 0.01)
    _evidence(few, ids, models)
    Prompt.objects.filter(pk__in=ids[found:]).update(embedding=None)  # evaluated, but not searchable
    snapshots.clear()
    request = _request(vectors[0], few)
    assert len(evidence_gather(request)) == found

    estimates = estimates_for(request, snapshots.get(), STRATEGIES[strategy])

    assert len(estimates.neighbours) == found
    assert {c.llm.name for c in estimates.candidates + estimates.reserve} == {"cheap", "pricey"}
    assert all(0.0 <= c.quality <= 1.0 and c.evidence_n <= found and c.cost_usd > 0
               for c in estimates.candidates + estimates.reserve)
    assert choose(estimates, {"accuracy": 0.5, "cost": 0.5})
    assert estimators.get() is not None  # the learned strategy predicted, not fell back to priors


def test_an_evaluation_of_a_dataset_smaller_than_k_reports_every_strategy(scoped_evidence):
    _, vectors, models = scoped_evidence
    fewer, train_ids = _dataset("fewer-than-k", vectors[:20] + 0.01)
    test_ids = _prompts(fewer, vectors[20:30] + 0.01, "test")
    _evidence(fewer, train_ids + test_ids, models)

    report = evaluate(dataset_name="fewer-than-k")

    assert (report["n_train"], report["n_test"]) == (20, 10)
    assert set(report["strategies"]) == set(STRATEGIES)
    assert all(len(curve["points"]) >= 25 for curve in report["strategies"].values())
