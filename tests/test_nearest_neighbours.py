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
    found = Prompt.objects.nearest_train_ids(query, 5)
    assert Prompt.objects.get(pk=found[0][0]).external_id == "42"
    assert [sim for _, sim in found] == sorted((sim for _, sim in found), reverse=True)


def test_it_answers_nearest_queries_from_the_hnsw_index(prompts):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        Prompt.objects.nearest_train_ids(prompts[0], 10)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + captured.captured_queries[0]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "prompt_embedding_hnsw" in plan, plan


def test_a_search_within_datasets_uses_the_index_too(prompts):
    from django.test.utils import CaptureQueriesContext

    scope = (prompts_dataset_id(),)
    with CaptureQueriesContext(connection) as captured:
        found = Prompt.objects.nearest_train_ids(prompts[7], 5, dataset_ids=scope)
    assert found[0][1] == pytest.approx(1.0, abs=1e-5)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + captured.captured_queries[0]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "prompt_embedding_hnsw" in plan, plan


def prompts_dataset_id():
    return Dataset.objects.get(name="vectors").id
