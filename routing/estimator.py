"""Training, storing and serving the per-model success models of routing.quality.

Trained by a Celery task after each import (and on first use), on every train-split result in
the registry; never on a test split. Versioned like the analyzer; each process keeps the
latest version in memory and rechecks every RECHECK_SECONDS.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
import time
from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.db.models import Max

from registry.embedder import get_embedder
from registry.models import Dataset, Prompt
from routing import quality
from routing.models import EstimatorVersion
from routing.snapshot import Evidence, snapshots

RECHECK_SECONDS = 30.0
LOCK_ID = 0x0E57  # advisory lock: one trainer at a time


@dataclass
class Estimator:
    version_id: int
    model: quality.QualityModel
    columns: dict[int, int]  # llm id -> column of the quality model

    def predict(self, vector: np.ndarray, evidence: Evidence, neighbours: list[tuple[int, float]],
                llm_ids: list[int]) -> dict[int, tuple[float, float, int]]:
        """Expected quality, confidence and neighbour count per model id this estimator knows."""
        order = list(self.columns)
        scores, _ = evidence.neighbourhood([pid for pid, _ in neighbours], order)
        sims = np.array([sim for _, sim in neighbours], dtype=np.float64)
        expected, confidence = quality.predict(self.model, vector, scores, sims)
        counts = (~np.isnan(scores[: self.model.hyperparameters["neighbours"]])).sum(axis=0)
        return {mid: (float(expected[self.columns[mid]]), float(confidence[self.columns[mid]]),
                      int(counts[self.columns[mid]])) for mid in llm_ids if mid in self.columns}


def _training_data() -> tuple[np.ndarray, np.ndarray, list[int], list[int]]:
    evidence = snapshots.get().evidence
    prompt_ids = sorted(evidence.rows, key=evidence.rows.__getitem__)
    llm_ids = sorted(evidence.columns, key=evidence.columns.__getitem__)
    vectors = dict(Prompt.objects.filter(id__in=prompt_ids, split="train").values_list("id", "embedding"))
    keep = [i for i, pid in enumerate(prompt_ids) if vectors.get(pid) is not None]
    x = np.array([vectors[prompt_ids[i]] for i in keep], dtype=np.float32).reshape(len(keep), -1)
    return x, evidence.scores[keep], [prompt_ids[i] for i in keep], llm_ids


def _hash(embedder: str, y: np.ndarray, prompt_ids: list[int], llm_ids: list[int]) -> str:
    digest = hashlib.sha256(embedder.encode())
    digest.update(np.asarray(prompt_ids, dtype=np.int64).tobytes())
    digest.update(np.asarray(llm_ids, dtype=np.int64).tobytes())
    digest.update(np.nan_to_num(y, nan=-1.0).astype(np.float32).tobytes())
    return digest.hexdigest()


def estimator_train(*, force: bool = False) -> EstimatorVersion | None:
    """Fit the success models on the registry's train results; None when there are none."""
    embedder = get_embedder().name
    if Dataset.objects.exclude(stats__embedder=embedder).exists():
        return None  # stored vectors from another embedder: re-import first
    snapshots.clear()
    x, y, prompt_ids, llm_ids = _training_data()
    if not len(x):
        return None
    training_hash = _hash(embedder, y, prompt_ids, llm_ids)
    with transaction.atomic():
        # One trainer at a time; the others find its version when the lock frees.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_ID])
        latest = EstimatorVersion.objects.first()
        if latest and latest.training_hash == training_hash and not force:
            return latest
        started = time.perf_counter()
        model = quality.fit(x, y)
        return EstimatorVersion.objects.create(
            embedder=embedder, artifact=pickle.dumps(model), llm_ids=llm_ids, training_hash=training_hash,
            metrics={"prompts": len(x), "models": len(llm_ids), "fit_s": round(time.perf_counter() - started, 2),
                     "hyperparameters": model.hyperparameters})


class _EstimatorCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._estimator: Estimator | None = None
        self._checked_at = -1e9

    def get(self) -> Estimator | None:
        current = self._estimator
        if time.monotonic() - self._checked_at < RECHECK_SECONDS:
            return current
        with self._lock:
            self._checked_at = time.monotonic()
            latest = EstimatorVersion.objects.aggregate(latest=Max("id"))["latest"]
            if latest is None:
                version = estimator_train()
            elif current is not None and current.version_id == latest:
                return current
            else:
                version = EstimatorVersion.objects.get(pk=latest)
            if version is None or version.embedder != get_embedder().name:
                self._estimator = None
                return None
            # Safe: artifacts are written only by estimator_train, never uploaded.
            model = pickle.loads(bytes(version.artifact))  # noqa: S301
            self._estimator = Estimator(version.pk, model, {mid: j for j, mid in enumerate(version.llm_ids)})
            return self._estimator

    def clear(self) -> None:
        with self._lock:
            self._estimator = None
            self._checked_at = -1e9


estimators = _EstimatorCache()
