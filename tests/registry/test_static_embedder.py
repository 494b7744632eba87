"""The static embedder's own tokenisation must embed every text exactly as the tokenizer's ids would.

A text naming a special token such as [SEP] goes to the tokenizer, and special tokens add
nothing to a vector: so a text must embed the same with " [SEP]" appended as without."""

import json
import random

import numpy as np
import pytest

from registry.embedder import load_static_embedder
from routing.analysis.training import SEED_PATH

SEED_SET = SEED_PATH


@pytest.fixture(scope="module")
def embedder():
    return load_static_embedder()


def assert_tokenised_as_the_tokenizer_does(embedder, texts):
    # " hello" gives every text a usable token, so none is embedded character by character
    # (where the characters of " [SEP]" would count).
    fast = embedder.encode([f"{text} hello" for text in texts])
    reference = embedder.encode([f"{text} hello [SEP]" for text in texts])
    for text, vector, expected in zip(texts, fast, reference, strict=True):
        assert np.allclose(vector, expected, atol=1e-6), repr(text)


def test_fast_tokenisation_matches_the_tokenizer_on_random_ascii(embedder):
    rng = random.Random(0)
    alphabet = [chr(i) for i in range(128)] + ["[CLS]", "[SEP]", "[cls]", "[MASK]", " the ", "unaffordable", "x" * 120]
    texts = ["".join(rng.choice(alphabet) if rng.random() < 0.4 else rng.choice("ab cd 12 ef")
                     for _ in range(rng.randint(0, 60))) for _ in range(5000)]
    assert_tokenised_as_the_tokenizer_does(embedder, texts)


def test_fast_tokenisation_matches_the_tokenizer_on_real_requests(embedder):
    texts = [json.loads(line)["text"] for line in SEED_SET.read_text().splitlines() if line.strip()]
    texts += ["Translate 'naïve café' into German.", "Résumé: 東京 is a city", "Tab\there\r\nand\x00nul"]
    assert len(texts) > 100
    assert_tokenised_as_the_tokenizer_does(embedder, texts)


def test_embeddings_are_unit_length_and_equal_for_equal_text(embedder):
    vectors = embedder.encode(["What is the capital of France?", "what is the capital of france ?", ""])
    assert np.allclose(np.linalg.norm(vectors[:2], axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[1], atol=1e-6)  # same tokens once lowercased and split
    assert not vectors[2].any()
