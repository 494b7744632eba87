"""Training the task analyzer: task type and domain classifiers on the packaged seed set plus the
registry's labelled prompts, and a complexity regressor on measured difficulty.

Only the *train* split is ever read: test prompts are held out to evaluate the router, and
training on them would leak their labels into it.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import numpy as np
from django.db import transaction
from django.db.models import CharField, F, Window
from django.db.models.functions import MD5, Cast, RowNumber
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

from optiroute.locks import advisory_xact_lock
from registry.embedder import get_embedder
from registry.models import DOMAINS, TASK_TYPES, Prompt, PromptQuerySet
from routing.analysis.text import prune
from routing.models import AnalyzerVersion

Vector = Any  # an (n, d) or (d,) float32 array

SEED_PATH: Final = Path(__file__).resolve().parent / "seed" / "analyzer_seed.jsonl"
# Enough registry prompts per label to add real-world phrasing without one big dataset
# drowning the seed set (about 40 examples per label).
REGISTRY_PER_LABEL: Final = 400
REGISTRY_DIFFICULTY_MAX: Final = 4_000
CV_FOLDS: Final = 5
RIDGE_ALPHAS: Final = (0.1, 1.0, 10.0, 100.0)
# Bump when the training recipe or the artifact layout changes, so old versions are replaced.
ARTIFACT_FORMAT: Final = 1
# Serialises concurrent trainings across processes (pg_advisory_xact_lock key).
TRAIN_LOCK_KEY: Final = 0x0A7A_1A2E


@dataclass(frozen=True)
class _RegistryLabels:
    """The registry train prompts used for each target, as sorted (id, label) pairs."""

    task_type: list[tuple[int, str]]
    domain: list[tuple[int, str]]
    difficulty: list[tuple[int, float]]

    def ids(self) -> list[int]:
        return sorted({i for rows in (self.task_type, self.domain, self.difficulty) for i, _ in rows})

    def within(self, vectors: dict[int, Vector]) -> _RegistryLabels:
        """These labels without the prompts that have no vector (deleted since they were read)."""
        return _RegistryLabels([r for r in self.task_type if r[0] in vectors],
                               [r for r in self.domain if r[0] in vectors],
                               [r for r in self.difficulty if r[0] in vectors])


@dataclass(frozen=True)
class _Seed:
    texts: tuple[str, ...]
    task_types: list[str]
    domains: list[str]
    digest: str


def analyzer_train(*, force: bool = False) -> AnalyzerVersion:
    """Train a new analyzer version, or return the latest one when its training data is unchanged."""
    with transaction.atomic():
        # Two workers training at once would both miss the hash and save twins; the second
        # waits here and then finds the first one's version.
        advisory_xact_lock(TRAIN_LOCK_KEY)
        embedder_name = get_embedder().name
        seed = _load_seed()
        labels = _registry_labels()
        training_hash = _training_hash(embedder_name, seed, labels)
        latest = AnalyzerVersion.objects.order_by("-id").first()
        if latest is not None and latest.training_hash == training_hash and not force:
            return latest
        started = time.perf_counter()
        estimators, metrics = _fit(seed, labels)
        metrics["train_seconds"] = round(time.perf_counter() - started, 2)
        return AnalyzerVersion.objects.create(
            embedder=embedder_name, artifact=pickle.dumps(estimators), metrics=metrics,
            training_hash=training_hash)


def _load_seed() -> _Seed:
    raw = SEED_PATH.read_bytes()
    rows = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
    return _Seed(texts=tuple(r["text"] for r in rows), task_types=[r["task_type"] for r in rows],
                 domains=[r["domain"] for r in rows], digest=hashlib.sha256(raw).hexdigest())


def _registry_labels() -> _RegistryLabels:
    difficulty = (Prompt.objects.train().exclude(difficulty=None)
                  .order_by(_stable_shuffle())[:REGISTRY_DIFFICULTY_MAX])
    return _RegistryLabels(
        task_type=sorted(_per_label_sample("task_type", TASK_TYPES).values_list("id", "task_type")),
        domain=sorted(_per_label_sample("domain", DOMAINS).values_list("id", "domain")),
        difficulty=sorted((pid, float(d)) for pid, d in difficulty.values_list("id", "difficulty") if d is not None))


def _stable_shuffle() -> Any:
    # Ordering by a hash of the id samples evenly across datasets, and adding prompts
    # changes the sample only at its margin (a seeded shuffle would redraw all of it).
    return MD5(Cast("id", CharField())).asc()


def _per_label_sample(field: str, allowed: list[str]) -> PromptQuerySet:
    rank = Window(RowNumber(), partition_by=[F(field)], order_by=_stable_shuffle())
    return (Prompt.objects.train().filter(**{f"{field}__in": allowed})
            .annotate(rank=rank).filter(rank__lte=REGISTRY_PER_LABEL))


def _training_hash(embedder_name: str, seed: _Seed, labels: _RegistryLabels) -> str:
    payload = [ARTIFACT_FORMAT, embedder_name, seed.digest, labels.task_type, labels.domain,
               labels.difficulty]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def _fit(seed: _Seed, labels: _RegistryLabels) -> tuple[dict[str, Any], dict[str, Any]]:
    seed_vectors = _seed_vectors(get_embedder().name, seed.texts)
    registry_vectors, reencoded = _registry_vectors(labels.ids())
    labels = labels.within(registry_vectors)
    task_x, task_y = _stack(seed_vectors, seed.task_types, labels.task_type, registry_vectors)
    domain_x, domain_y = _stack(seed_vectors, seed.domains, labels.domain, registry_vectors)
    complexity, complexity_r2 = _fit_complexity(labels.difficulty, registry_vectors)
    estimators = {
        "format": ARTIFACT_FORMAT,
        "task_type": _classifier().fit(task_x, task_y),
        "domain": _classifier().fit(domain_x, domain_y),
        "complexity": complexity,
        "complexity_confidence": float(np.clip(complexity_r2 or 0.0, 0.0, 1.0)),
    }
    metrics = {
        "embedder": get_embedder().name,
        "seed": len(seed.texts),
        "registry": {"task_type": len(labels.task_type), "domain": len(labels.domain),
                     "difficulty": len(labels.difficulty)},
        "reencoded": reencoded,
        "task_type_cv_accuracy": _cv_accuracy(seed_vectors, seed.task_types),
        "domain_cv_accuracy": _cv_accuracy(seed_vectors, seed.domains),
        "complexity_cv_r2": complexity_r2,
        "complexity_confidence": estimators["complexity_confidence"],
    }
    return estimators, metrics


@lru_cache(maxsize=2)
def _seed_vectors(embedder_name: str, texts: tuple[str, ...]) -> Vector:
    # Encoding the seed set is most of a retrain's cost and only changes with the file or embedder.
    vectors = get_embedder().encode(list(texts))
    vectors.setflags(write=False)
    return vectors


def _registry_vectors(ids: list[int]) -> tuple[dict[int, Vector], int]:
    """Stored embeddings where they come from the current embedder, fresh ones otherwise."""
    name = get_embedder().name
    rows = Prompt.objects.filter(id__in=ids).values_list("id", "embedding", "dataset__stats__embedder")
    vectors = {pk: np.asarray(vec, dtype=np.float32) for pk, vec, used in rows
               if vec is not None and used == name}
    stale = sorted(set(ids) - vectors.keys())
    if stale:
        texts = dict(Prompt.objects.filter(id__in=stale).values_list("id", "text"))
        # A prompt deleted since the labels were read (a fold rewrites its field evidence, an
        # import replaces a dataset) is left out; the labels' rows are filtered by `vectors`.
        stale = [pk for pk in stale if pk in texts]
        # Pruned like a live request, so both are embedded from the same kind of input.
        fresh = get_embedder().encode([prune(texts[pk])[0] for pk in stale])
        vectors.update(zip(stale, fresh, strict=True))
    return vectors, len(stale)


def _stack(seed_x: Vector, seed_y: list[str], rows: list[tuple[int, str]],
           vectors: dict[int, Vector]) -> tuple[Vector, list[str]]:
    if not rows:
        return seed_x, seed_y
    x = np.vstack([seed_x, np.stack([vectors[pk] for pk, _ in rows])])
    return x, [*seed_y, *(label for _, label in rows)]


def _classifier() -> LogisticRegression:
    # Balanced: registry datasets are lopsided (mostly "general" QA), the seed set is not.
    return LogisticRegression(class_weight="balanced", max_iter=2000)


def _cv_accuracy(x: Vector, y: list[str]) -> float | None:
    if min(y.count(label) for label in set(y)) < CV_FOLDS:
        return None
    folds = StratifiedKFold(CV_FOLDS, shuffle=True, random_state=0)
    return round(float(cross_val_score(_classifier(), x, y, cv=folds).mean()), 4)


def _fit_complexity(rows: list[tuple[int, float]],
                    vectors: dict[int, Vector]) -> tuple[RidgeCV | None, float | None]:
    if not rows:
        return None, None
    x = np.stack([vectors[pk] for pk, _ in rows])
    y = np.array([difficulty for _, difficulty in rows])
    r2 = None
    if len(rows) >= 2 * CV_FOLDS:
        folds = KFold(CV_FOLDS, shuffle=True, random_state=0)
        r2 = round(float(cross_val_score(RidgeCV(alphas=RIDGE_ALPHAS), x, y, cv=folds).mean()), 4)
    return RidgeCV(alphas=RIDGE_ALPHAS).fit(x, y), r2
