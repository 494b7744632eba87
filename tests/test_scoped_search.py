"""Searches scoped to some datasets: k neighbours from the scope however small a share of the
index it is, and all it holds when it holds fewer."""

import numpy as np
import pytest
from django.db import connection

from registry import vector_search
from registry.embedder import get_embedder
from registry.models import Dataset, Prompt

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
            cursor.execute("ANALYZE registry_prompt")
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
    query = small_vectors[3]
    found = Prompt.objects.nearest_train_ids(query, 50, dataset_ids=(small.pk, medium.pk))
    exact = _exact(query, small_ids + medium_ids, np.vstack([small_vectors, medium_vectors]), 50)
    assert found[0][0] == small_ids[3]
    assert len(found) == 50 and len({pid for pid, _ in found} & set(exact)) >= 0.95 * 50


def test_the_database_runs_pgvector_0_8(registry_of_three, plan):
    small, _, vectors = registry_of_three["small"]
    planned = vector_search.explain(vectors[0], 50, dataset_ids=(small.pk,))
    assert ("prompt_embedding_hnsw" in planned) == (plan == "hnsw")
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        version = cursor.fetchone()[0]
    assert tuple(int(part) for part in version.split(".")[:2]) >= (0, 8)
