"""Training, storing and serving what routing learns from the evidence (routing.learning.quality): the
per-model success models of the `learned` strategy and the `knn` strategy's shrinkage factors.

Trained by a Celery task after each import (and on first use), on every train-split result in
the registry; never on a test split. Versioned like the analyzer; each process keeps the
latest version in memory and rechecks every RECHECK_SECONDS.
"""

from __future__ import annotations

import hashlib
import pickle
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import cast

import numpy as np
from django.db import transaction
from django.db.models import Max

from optiroute.locks import advisory_xact_lock
from registry.embedder import get_embedder
from registry.models import Dataset, Dimension, Prompt
from routing.engine.snapshot import Evidence, snapshots
from routing.learning import quality
from routing.models import EstimatorVersion
from routing.versioned_cache import VersionedCache

RECHECK_SECONDS = 30.0
LOCK_ID = 0x0E57  # advisory lock: one trainer at a time
# Part of the training hash: a change of what is fitted retrains on unchanged evidence.
RECIPE = "success-models-1/knn-shrinkage-2"  # 2: also per non-accuracy dimension
ALL_DATASETS = "*"
NEUTRAL = 0.5  # a model-level figure where a model has none


@dataclass
class Estimator:
    version_id: int
    model: quality.QualityModel
    columns: dict[int, int]  # llm id -> column of the quality model
    # How far the k-NN strategy's estimate may move from the prior (quality.fit_shrinkage), per
    # evidence scope: a dataset id (as text) or ALL_DATASETS.
    shrinkage: dict[str, float]

    def shrinkage_for(self, dataset_ids: tuple[int, ...] | None, dimension: str = Dimension.ACCURACY) -> float:
        """The factor fitted on this evidence scope (one dataset's, else the whole registry's),
        for accuracy or a non-accuracy dimension's evidence."""
        prefix = "" if dimension == Dimension.ACCURACY else f"{dimension}:"
        if dataset_ids is not None and len(dataset_ids) == 1 and f"{prefix}{dataset_ids[0]}" in self.shrinkage:
            return self.shrinkage[f"{prefix}{dataset_ids[0]}"]
        return self.shrinkage.get(f"{prefix}{ALL_DATASETS}", 1.0)

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


@dataclass
class TrainingData:
    x: np.ndarray  # (n, d) prompt embeddings
    y: np.ndarray  # (n, m) scores, NaN where a model has no result
    prompt_ids: list[int]
    llm_ids: list[int]
    datasets: np.ndarray  # (n,) each prompt's dataset id
    task_types: list[str]


def _training_data(evidence: Evidence | None = None) -> TrainingData:
    evidence = evidence or snapshots.get().evidence
    prompt_ids = sorted(evidence.rows, key=evidence.rows.__getitem__)
    llm_ids = sorted(evidence.columns, key=evidence.columns.__getitem__)
    rows = {pid: (vector, dataset, task) for pid, vector, dataset, task in Prompt.objects.filter(
        id__in=prompt_ids, split="train").values_list("id", "embedding", "dataset_id", "task_type")}
    keep = [i for i, pid in enumerate(prompt_ids) if pid in rows and rows[pid][0] is not None]
    kept = [prompt_ids[i] for i in keep]
    x = np.array([rows[pid][0] for pid in kept], dtype=np.float32) if kept else np.empty((0, 0), np.float32)
    return TrainingData(x, evidence.scores[keep], kept, llm_ids,
                        np.array([rows[pid][1] for pid in kept], dtype=np.int64), [rows[pid][2] for pid in kept])


def fit_shrinkage(data: TrainingData) -> dict[str, float]:
    """quality.fit_shrinkage per dataset (a request scoped to it) and over the whole registry.

    Each prompt's prior is what routing would use for a request of its task type in that scope."""
    snapshot = snapshots.get()
    x = data.x / np.maximum(np.linalg.norm(data.x, axis=1, keepdims=True), 1e-12)
    scopes: list[tuple[str, np.ndarray, tuple[int | None, ...]]] = [
        (str(ds), data.datasets == ds, (int(ds),)) for ds in np.unique(data.datasets)]
    scopes.append((ALL_DATASETS, np.ones(len(x), dtype=bool), (None,)))
    out = {}
    for key, rows, scope in scopes:
        tasks = [t for t, keep in zip(data.task_types, rows, strict=True) if keep]
        priors = np.array([[snapshot.prior(llm_id, task, scope).quality for llm_id in data.llm_ids] for task in tasks],
                          dtype=np.float64).reshape(len(tasks), len(data.llm_ids))
        out[key] = round(quality.fit_shrinkage(x[rows], data.y[rows].astype(np.float64), priors,
                                               k=quality.NEIGHBOURS, knn=quality.KNN), 4)
    return out


def fit_dimension_shrinkage() -> tuple[dict[str, float], list[TrainingData]]:
    """quality.fit_shrinkage on each non-accuracy dimension's evidence, per dataset and over all
    (keys "<dimension>:<dataset id>" and "<dimension>:*"), each prompt's prior being the model-level
    figure routing shrinks that dimension toward (routing.engine.estimate.dimension_estimates)."""
    snapshot = snapshots.get()
    out: dict[str, float] = {}
    fitted = []
    for dimension, datasets in sorted(snapshot.dimension_datasets.items()):
        data = _training_data(snapshot.dimension_evidence(dimension))
        if not len(data.x):
            continue
        fitted.append(data)
        x = data.x / np.maximum(np.linalg.norm(data.x, axis=1, keepdims=True), 1e-12)
        scopes: list[tuple[str, np.ndarray, tuple[int, ...]]] = [
            (str(ds), data.datasets == ds, (int(ds),)) for ds in np.unique(data.datasets)]
        scopes.append((ALL_DATASETS, np.ones(len(x), dtype=bool), tuple(sorted(datasets))))
        for key, rows, scope in scopes:
            levels = [snapshot.dimension_prior(dimension, llm_id, scope) for llm_id in data.llm_ids]
            priors = np.tile([level.quality if level else NEUTRAL for level in levels], (int(rows.sum()), 1))
            out[f"{dimension}:{key}"] = round(quality.fit_shrinkage(
                x[rows], data.y[rows].astype(np.float64), priors, k=quality.NEIGHBOURS, knn=quality.KNN), 4)
    return out, fitted


def _hash(embedder: str, *datasets: TrainingData) -> str:
    digest = hashlib.sha256(f"{RECIPE}/{embedder}".encode())
    for data in datasets:
        digest.update(np.asarray(data.prompt_ids, dtype=np.int64).tobytes())
        digest.update(np.asarray(data.llm_ids, dtype=np.int64).tobytes())
        digest.update(np.nan_to_num(data.y, nan=-1.0).astype(np.float32).tobytes())
    return digest.hexdigest()


def estimator_train(*, force: bool = False) -> EstimatorVersion | None:
    """Fit the success models on the registry's train results; None when there are none."""
    embedder = get_embedder().name
    if Dataset.objects.exclude(stats__embedder=embedder).exists():
        return None  # stored vectors from another embedder: re-import first
    snapshots.clear()
    data = _training_data()
    if not len(data.x):
        return None
    dimension_shrinkage, dimension_data = fit_dimension_shrinkage()
    training_hash = _hash(embedder, data, *dimension_data)
    with transaction.atomic():
        # One trainer at a time; the others find its version when the lock frees.
        advisory_xact_lock(LOCK_ID)
        latest = EstimatorVersion.objects.first()
        if latest and latest.training_hash == training_hash and not force:
            return latest
        started = time.perf_counter()
        model = quality.fit(data.x, data.y)
        shrinkage = {**fit_shrinkage(data), **dimension_shrinkage}
        return EstimatorVersion.objects.create(
            embedder=embedder, artifact=pickle.dumps(model), llm_ids=data.llm_ids, training_hash=training_hash,
            knn_shrinkage=shrinkage,
            metrics={"recipe": RECIPE, "prompts": len(data.x), "models": len(data.llm_ids),
                     "fit_s": round(time.perf_counter() - started, 2), "hyperparameters": model.hyperparameters})


def _latest_version_id() -> int | None:
    return EstimatorVersion.objects.aggregate(latest=Max("id"))["latest"]


def _load(latest: Hashable, current: Estimator | None) -> Estimator | None:
    if latest is None:
        # Nothing to fit without evidence; training would only drop the snapshot.
        version = estimator_train() if snapshots.get().evidence.rows else None
    elif current is not None and current.version_id == latest:
        return current
    else:
        version = EstimatorVersion.objects.get(pk=cast(int, latest))
        if version.metrics.get("recipe") != RECIPE:  # fitted by an older release
            version = estimator_train() or version
    if version is None or version.embedder != get_embedder().name:
        return None
    # Safe: artifacts are written only by estimator_train, never uploaded.
    model = pickle.loads(bytes(version.artifact))  # noqa: S301
    return Estimator(version.pk, model, {mid: j for j, mid in enumerate(version.llm_ids)}, dict(version.knn_shrinkage))


# The latest estimator version (None without evidence), unpickled once per process.
estimators: VersionedCache[Estimator | None] = VersionedCache(version=_latest_version_id, load=_load,
                                                               recheck_seconds=RECHECK_SECONDS)
