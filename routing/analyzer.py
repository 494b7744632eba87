"""The task analyzer: what a request asks for, in which domain, how hard it is and how long.

Task type and domain come from linear classifiers on the request's embedding, trained on the
packaged seed set plus the registry's labelled prompts. Complexity is regressed on the
registry's measured difficulty (one minus the mean model score), so it is learned from
outcomes, never from keywords. Only the *train* split is ever read: test prompts are held
out to evaluate the router, and training on them would leak their labels into it.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import re
import threading
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from django.db import connection, transaction
from django.db.models import CharField, F, Max, Window
from django.db.models.functions import MD5, Cast, RowNumber
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

from registry.embedder import get_embedder
from registry.models import DOMAINS, TASK_TYPES, Prompt, PromptQuerySet
from routing.models import AnalyzerVersion

Vector = npt.NDArray[np.float32]

# Pruning: the instruction and the actual question usually sit at the two ends of a long prompt.
PRUNE_MIN_WORDS: Final = 10_000
PRUNE_EDGE_WORDS: Final = 500
PRUNE_MIDDLE_SENTENCES: Final = 16
PRUNE_SENTENCE_MAX_WORDS: Final = 40
PRUNE_SEPARATOR: Final = "\n...\n"
CHARS_PER_TOKEN: Final = 4
# A conversation is analysed as its latest user message; the instructions and the last
# CONTEXT_TURNS earlier user turns add their embedding at CONTEXT_WEIGHT (below 1, so they never
# outweigh the message: "Hi there!" after a coding question is small talk, not code).
CONTEXT_TURNS: Final = 3
CONTEXT_WEIGHT: Final = 0.3

SEED_PATH: Final = Path(__file__).resolve().parent / "seed" / "analyzer_seed.jsonl"
# Enough registry prompts per label to add real-world phrasing without one big dataset
# drowning the seed set (about 40 examples per label).
REGISTRY_PER_LABEL: Final = 400
REGISTRY_DIFFICULTY_MAX: Final = 4_000
CV_FOLDS: Final = 5
RIDGE_ALPHAS: Final = (0.1, 1.0, 10.0, 100.0)
FALLBACK_COMPLEXITY: Final = 0.5
# Bump when the training recipe or the artifact layout changes, so old versions are replaced.
ARTIFACT_FORMAT: Final = 1
# Serialises concurrent trainings across processes (pg_advisory_xact_lock key).
TRAIN_LOCK_KEY: Final = 0x0A7A_1A2E

# Seconds a process keeps using its cached version before asking whether a newer one exists.
RECHECK_SECONDS: float = 30.0

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def prune(text: str) -> tuple[str, bool]:
    """The first and last words of a very long text plus evenly spaced sentences between them."""
    words = text.split()
    if len(words) < PRUNE_MIN_WORDS:
        return text, False
    middle = _middle_sample(words[PRUNE_EDGE_WORDS:-PRUNE_EDGE_WORDS])
    head = " ".join(words[:PRUNE_EDGE_WORDS])
    tail = " ".join(words[-PRUNE_EDGE_WORDS:])
    return PRUNE_SEPARATOR.join([head, *middle, tail]), True


def _middle_sample(words: list[str]) -> list[str]:
    sentences = _SENTENCE_END.split(" ".join(words))
    count = min(PRUNE_MIDDLE_SENTENCES, len(sentences))
    # The centre of each of `count` equal slices: deterministic, and spread over the whole middle.
    picks = [sentences[(2 * k + 1) * len(sentences) // (2 * count)] for k in range(count)]
    # A "sentence" can be the whole middle when it has no punctuation; cap it.
    return [" ".join(s.split()[:PRUNE_SENTENCE_MAX_WORDS]) for s in picks]


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Analysis:
    task_type: str
    task_confidence: float
    domain: str
    domain_confidence: float
    complexity: float
    complexity_confidence: float
    tokens: int
    pruned: bool
    analyzer_version: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RoutingText:
    """What routing reads of a conversation."""

    latest: str  # the latest user message (the instructions when there is none): it drives the analysis
    context: str  # the instructions and the last few earlier user turns: they add to it, never outweigh it
    tokens: int  # the whole conversation's, answers included: the model is billed for all of it


def routing_text(messages: list[dict[str, Any]]) -> RoutingText:
    """The one reading of a conversation that the route API, chat completions, browser chat and batches share."""
    said = [(m.get("role"), str(m.get("content") or "")) for m in messages]
    instructions = [text for role, text in said if role in ("system", "developer") and text.strip()]
    asked = [text for role, text in said if role == "user" and text.strip()]
    tokens = estimate_tokens("\n".join(text for _, text in said))
    if not asked:
        return RoutingText(latest="\n".join(instructions), context="", tokens=tokens)
    context = "\n".join([*instructions, *asked[-1 - CONTEXT_TURNS:-1]])
    return RoutingText(latest=asked[-1], context=context, tokens=tokens)


def analyze(text: str, *, context: str = "", tokens: int | None = None) -> tuple[Analysis, Vector]:
    """Analyse a request; also return its embedding so routing can reuse it for the neighbour search.

    `context` (a conversation's instructions and earlier turns) informs the analysis at
    CONTEXT_WEIGHT; `tokens` is the whole conversation's count (default: the text's).
    """
    pruned_text, pruned = prune(text)
    analyzer = _cache.get()
    vector = _request_vector(pruned_text, context)
    return analyzer.analysis(vector, tokens=estimate_tokens(text) if tokens is None else tokens,
                             pruned=pruned), vector


def _request_vector(text: str, context: str) -> Vector:
    if not context.strip():
        return get_embedder().encode([text])[0]
    latest, earlier = get_embedder().encode([text, prune(context)[0]])
    mixed = latest + CONTEXT_WEIGHT * earlier
    norm = float(np.linalg.norm(mixed))
    return (mixed / norm).astype(np.float32) if norm else latest


# --- Training -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RegistryLabels:
    """The registry train prompts used for each target, as sorted (id, label) pairs."""

    task_type: list[tuple[int, str]]
    domain: list[tuple[int, str]]
    difficulty: list[tuple[int, float]]

    def ids(self) -> list[int]:
        return sorted({i for rows in (self.task_type, self.domain, self.difficulty) for i, _ in rows})


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
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TRAIN_LOCK_KEY])
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


# --- Serving ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _LinearHead:
    """A fitted logistic regression as plain arrays.

    sklearn's predict_proba spends ~0.2 ms per call validating its input; the same softmax
    over one matrix-vector product takes a few microseconds.
    """

    classes: tuple[str, ...]
    weights: npt.NDArray[np.float64]
    bias: npt.NDArray[np.float64]

    @classmethod
    def of(cls, model: LogisticRegression) -> _LinearHead:
        weights, bias = model.coef_, model.intercept_
        if weights.shape[0] == 1:
            # Binary models keep one row; softmax over (0, z) is sklearn's (1 - sigmoid, sigmoid).
            weights, bias = np.vstack([np.zeros_like(weights), weights]), np.r_[0.0, bias]
        return cls(tuple(str(c) for c in model.classes_), weights, bias)

    def top(self, vector: Vector) -> tuple[str, float]:
        logits = self.weights @ vector + self.bias
        odds = np.exp(logits - logits.max())
        best = int(odds.argmax())
        return self.classes[best], float(odds[best] / odds.sum())


@dataclass(frozen=True)
class _Analyzer:
    version_id: int
    embedder: str
    task_type: _LinearHead
    domain: _LinearHead
    complexity_weights: npt.NDArray[np.float64] | None
    complexity_bias: float
    complexity_confidence: float

    @classmethod
    def of(cls, version: AnalyzerVersion) -> _Analyzer:
        # Trusted input: only analyzer_train writes this column.
        # Safe: artifacts are written only by analyzer_train, never uploaded.
        estimators = pickle.loads(bytes(version.artifact))  # noqa: S301
        ridge: RidgeCV | None = estimators["complexity"]
        return cls(
            version_id=version.pk, embedder=version.embedder,
            task_type=_LinearHead.of(estimators["task_type"]), domain=_LinearHead.of(estimators["domain"]),
            complexity_weights=None if ridge is None else ridge.coef_,
            complexity_bias=0.0 if ridge is None else float(ridge.intercept_),
            complexity_confidence=estimators["complexity_confidence"])

    def analysis(self, vector: Vector, *, tokens: int, pruned: bool) -> Analysis:
        task_type, task_confidence = self.task_type.top(vector)
        domain, domain_confidence = self.domain.top(vector)
        return Analysis(
            task_type=task_type, task_confidence=task_confidence, domain=domain,
            domain_confidence=domain_confidence, complexity=self.complexity(vector),
            complexity_confidence=self.complexity_confidence, tokens=tokens, pruned=pruned,
            analyzer_version=self.version_id)

    def complexity(self, vector: Vector) -> float:
        if self.complexity_weights is None:
            return FALLBACK_COMPLEXITY
        return float(np.clip(self.complexity_weights @ vector + self.complexity_bias, 0.0, 1.0))


class _AnalyzerCache:
    """The latest analyzer version, unpickled once per process and rechecked every RECHECK_SECONDS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._analyzer: _Analyzer | None = None
        self._checked_at = -math.inf

    def get(self) -> _Analyzer:
        # Unlocked fast path: a reader seeing a slightly stale pair only rechecks a little late.
        analyzer = self._analyzer
        if analyzer is not None and time.monotonic() - self._checked_at < RECHECK_SECONDS:
            return analyzer
        with self._lock:
            analyzer = self._analyzer
            if analyzer is not None and time.monotonic() - self._checked_at < RECHECK_SECONDS:
                return analyzer  # another thread refreshed it while this one waited
            self._analyzer = _newest(analyzer)
            self._checked_at = time.monotonic()
            return self._analyzer

    def clear(self) -> None:
        """Forget the loaded version: the next call loads the latest."""
        with self._lock:
            self._analyzer = None
            self._checked_at = -math.inf


def _newest(current: _Analyzer | None) -> _Analyzer:
    latest_id = AnalyzerVersion.objects.aggregate(latest=Max("id"))["latest"]
    if current is not None and current.version_id == latest_id:
        return current
    version = AnalyzerVersion.objects.filter(pk=latest_id).first() if latest_id else None
    # A version trained on another embedder's vectors would classify noise: train a fresh one.
    if version is None or version.embedder != get_embedder().name:
        version = analyzer_train()
    return _Analyzer.of(version)


_cache = _AnalyzerCache()
