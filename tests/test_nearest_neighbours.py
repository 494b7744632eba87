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
