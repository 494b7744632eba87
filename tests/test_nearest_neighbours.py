import numpy as np
import pytest
from django.db import connection

from registry.models import Dataset, Prompt

pytestmark = pytest.mark.django_db


@pytest.fixture
def prompts():
    rng = np.random.default_rng(7)
    dataset = Dataset.objects.create(name="vectors", source_format="bundle", content_hash="x")
    vectors = rng.normal(size=(3000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    Prompt.objects.bulk_create([Prompt(dataset=dataset, external_id=str(i), text=f"p{i}", embedding=v)
                                for i, v in enumerate(vectors)], batch_size=1000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE registry_prompt")
    return vectors


def test_it_finds_the_nearest_prompts_by_cosine(prompts):
    query = prompts[42] + 0.01
    found = list(Prompt.objects.nearest(query, 5))
    assert found[0].external_id == "42"
    assert [p.distance for p in found] == sorted(p.distance for p in found)


def test_it_answers_nearest_queries_from_the_hnsw_index(prompts):
    sql, params = Prompt.objects.nearest(prompts[0], 10).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "prompt_embedding_hnsw" in plan, plan


def test_the_routing_search_matches_the_queryset_and_uses_the_index(prompts):
    from django.test.utils import CaptureQueriesContext

    fast = Prompt.objects.nearest_train_ids(prompts[7], 5)
    slow = [(p.id, 1.0 - p.distance) for p in Prompt.objects.train().nearest(prompts[7], 5)]
    assert [pid for pid, _ in fast] == [pid for pid, _ in slow]
    assert fast[0][1] == pytest.approx(1.0, abs=1e-5)
    scope = (prompts_dataset_id(),)
    with CaptureQueriesContext(connection) as captured:
        Prompt.objects.nearest_train_ids(prompts[7], 5, dataset_ids=scope)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + captured.captured_queries[0]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "prompt_embedding_hnsw" in plan, plan


def prompts_dataset_id():
    return Dataset.objects.get(name="vectors").id
