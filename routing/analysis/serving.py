"""The task analyzer at request time: what a request asks for, in which domain, how hard it is
and how long, from linear heads on its embedding (trained by routing.analysis.training).

Complexity is regressed on the registry's measured difficulty (one minus the mean model
score), so it is learned from outcomes, never from keywords.
"""

from __future__ import annotations

import pickle
from collections.abc import Hashable
from dataclasses import asdict, dataclass
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt
from django.db.models import Max
from sklearn.linear_model import LogisticRegression, RidgeCV

from registry.embedder import get_embedder
from registry.tokens import estimate_tokens
from routing.analysis.text import CONTEXT_WEIGHT, prune
from routing.analysis.training import analyzer_train
from routing.models import AnalyzerVersion
from routing.versioned_cache import VersionedCache

Vector = npt.NDArray[np.float32]

FALLBACK_COMPLEXITY: Final = 0.5
# Seconds a process keeps using its cached version before asking whether a newer one exists.
RECHECK_SECONDS: float = 30.0


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


def analyze(text: str, *, context: str = "", tokens: int | None = None) -> tuple[Analysis, Vector]:
    """Analyse a request; also return its embedding so routing can reuse it for the neighbour search.

    `context` (a conversation's instructions and earlier turns) informs the analysis at
    CONTEXT_WEIGHT; `tokens` is the whole conversation's count (default: the text's).
    """
    pruned_text, pruned = prune(text)
    analyzer = analyzers.get()
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


def _latest_version_id() -> int | None:
    return AnalyzerVersion.objects.aggregate(latest=Max("id"))["latest"]


def _load(latest_id: Hashable, current: _Analyzer | None) -> _Analyzer:
    if current is not None and current.version_id == latest_id:
        return current
    version = AnalyzerVersion.objects.filter(pk=cast(int, latest_id)).first() if latest_id else None
    # A version trained on another embedder's vectors would classify noise: train a fresh one.
    if version is None or version.embedder != get_embedder().name:
        version = analyzer_train()
    return _Analyzer.of(version)


# The latest analyzer version, unpickled once per process.
analyzers: VersionedCache[_Analyzer] = VersionedCache(version=_latest_version_id, load=_load,
                                                      recheck_seconds=RECHECK_SECONDS)
