"""The one place prompts and requests become vectors.

The packaged all-MiniLM-L6-v2 is loaded once per process. Long texts keep their head and
tail tokens: instructions and the actual question usually sit at the two ends (few-shot
prompts put the real question last), and MiniLM sees at most 256 tokens anyway.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from registry import static_embedder
from registry.models import EMBEDDING_DIMS
from registry.static_embedder import minilm_path

HEAD_TOKENS = 96
TAIL_TOKENS = 158


class Embedder(Protocol):
    name: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


class MiniLMEmbedder:
    name = "all-MiniLM-L6-v2"

    def __init__(self, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
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


def static_embedder_dir() -> Path:
    return Path(settings.OPTIROUTE_DATA_DIR) / "embedders" / static_embedder.NAME


def load_static_embedder() -> static_embedder.StaticEmbedder:
    """The static embedder, distilled from MiniLM on first use (about 1.5 minutes on 2 cores)."""
    folder = static_embedder_dir()
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Several processes (web, worker, tests) may start at once: one distils, the others wait.
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / static_embedder.META_FILE).exists():
            partial = folder.with_name(folder.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            static_embedder.distill(partial)
            partial.rename(folder)
    return static_embedder.StaticEmbedder(folder)


EMBEDDERS: dict[str, Callable[[], Embedder]] = {"minilm-static": load_static_embedder, "minilm": MiniLMEmbedder}


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    name = settings.OPTIROUTE_EMBEDDER
    if name not in EMBEDDERS:
        raise ImproperlyConfigured(f"OPTIROUTE_EMBEDDER must be one of {', '.join(EMBEDDERS)}, got {name!r}")
    return EMBEDDERS[name]()
