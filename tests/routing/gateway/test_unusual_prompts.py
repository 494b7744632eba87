"""Prompts the vocabulary does not know (emoji, CJK, one endless word) are routed and answered like any
other: the embedder gives them a direction, and a stored vector without one is no evidence."""

import math

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection

from registry.embedder import MiniLMEmbedder, load_static_embedder
from registry.models import Prompt

UNUSUAL = ["😀😀😀", "👍", "你好", "x" * 500, "1" * 600]


def _all_finite(value):
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_all_finite(v) for v in value)
    return True


@pytest.fixture
def evidence(write_bundle):
    call_command("import_evaluations", str(write_bundle()), "--dataset", "bundle")


@pytest.mark.parametrize("load", [load_static_embedder, MiniLMEmbedder], ids=["minilm-static", "minilm"])
def test_it_gives_every_non_empty_text_a_unit_vector(load):
    texts = [*UNUSUAL, "[SEP]", " ", "\x00", "😀 and words"]
    norms = np.linalg.norm(load().encode(texts), axis=1)
    assert norms == pytest.approx(np.ones(len(texts)), abs=1e-5)


def test_it_embeds_unknown_characters_by_their_names():
    embedder = load_static_embedder()
    emoji, name = embedder.encode(["👍", "thumbs up sign"])
    assert float(emoji @ name) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.django_db
def test_it_routes_unusual_prompts(evidence, api):
    for prompt in UNUSUAL:
        response = api.post("/api/v1/route", {"prompt": prompt}, format="json")
        assert response.status_code == 200, (prompt, response.content[:200])
        decision = response.json()
        assert _all_finite(decision), decision
        assert decision["neighbours"], "the train prompts are evidence"


@pytest.mark.django_db
def test_it_answers_unusual_prompts(evidence, fake_provider, api):
    for prompt in UNUSUAL:
        response = api.post("/v1/chat/completions", {"model": "optiroute/auto",
                                                     "messages": [{"role": "user", "content": prompt}]}, format="json")
        assert response.status_code == 200, (prompt, response.content[:200])
        assert response.json()["choices"][0]["message"]["content"] == "Hello from the local provider."


@pytest.mark.django_db
def test_it_finds_no_evidence_for_a_vector_without_direction(evidence):
    # The cosine distance to a zero vector is NaN: a NaN similarity would poison the k-NN weights.
    assert Prompt.objects.nearest_train_ids(np.zeros(384, dtype=np.float32), 50) == []


@pytest.mark.django_db
def test_it_skips_stored_vectors_without_direction(evidence):
    blank = Prompt.objects.filter(split="train").first()
    Prompt.objects.filter(pk=blank.pk).update(embedding=np.zeros(384, dtype=np.float32))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")  # the HNSW index leaves zero vectors out; a scan does not
    query = load_static_embedder().encode(["What is the capital of Italy?"])[0]
    found = Prompt.objects.nearest_train_ids(query, 50)
    assert found and blank.pk not in [pid for pid, _ in found]
    assert all(math.isfinite(similarity) for _, similarity in found)
