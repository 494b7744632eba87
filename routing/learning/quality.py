"""Per-request quality and cost estimates from per-model success models and neighbours.

Pure numpy + scikit-learn: no Django, no database. The routing engine supplies the request's
embedding and its nearest evaluated prompts; this module turns them into, per candidate model,
an expected score in [0, 1] and an expected cost.

Recipe (chosen by 2x5-fold cross-validation on the RouterBench train split only):

* Quality = 0.5 * kNN estimate + 0.5 * per-model logistic regression on the embedding.
  - kNN: mean score of the k=50 nearest train prompts (near-flat similarity weights), shrunk
    toward the model's train mean with the weight of 8 neighbours. Robust, local, and it
    tolerates models evaluated on different prompt subsets (NaN scores are skipped).
  - Logistic regression (C=3) per model: generalises between neighbourhoods. Fractional scores
    are used as soft labels (each row counted as a success with weight s and a failure with
    weight 1-s), so the output stays an expected score.
  The two err differently, so their average is better calibrated than either (lower CV
  log-loss, better cost/quality frontier). Tried and dropped because CV showed no gain:
  task-level priors (from a task classifier on the embedding), prompt length, stacking kNN
  estimates into the regression, shared low-rank/MLP models, TF-IDF of the question text,
  per-prompt cost regressions, "cheapest model within δ of the best".
* Cost = median recorded cost of the model on the neighbours (what the call is likely to cost
  on this kind of prompt, robust to the odd very long answer).
The routing engine weighs these against the user's preferences (routing.engine.rank).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "neighbours": 50,          # k used from the neighbour list (the engine must fetch at least this many)
    "temperature": 1.0,        # neighbour weight exp((sim - max sim) / T); 1.0 is nearly flat
    "prior_strength": 8.0,     # neighbour-equivalents of the model's train mean in the kNN estimate
    "lr_c": 3.0,               # inverse L2 strength of the per-model logistic regressions
    "blend": 0.5,              # weight of the logistic regression; 1 - blend goes to kNN
}

@dataclass
class QualityModel:
    """Everything `predict` needs; picklable (numpy arrays only)."""

    coef: np.ndarray            # (m, d) logistic-regression weights per model
    intercept: np.ndarray       # (m,)
    prior: np.ndarray           # (m,) train mean score per model: kNN shrinkage target
    hyperparameters: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- fitting

def fit(X: np.ndarray, Y: np.ndarray, hyperparameters: dict[str, Any] | None = None) -> QualityModel:
    """Fit on train prompts.

    X: (n, d) L2-normalised embeddings. Y: (n, m) scores in [0, 1], NaN where a model has no
    result; columns in the caller's fixed model order. hyperparameters: overrides of
    DEFAULT_HYPERPARAMETERS.
    """
    hp = {**DEFAULT_HYPERPARAMETERS, **(hyperparameters or {})}
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    coef, intercept = _fit_regressions(X, Y, hp["lr_c"])
    return QualityModel(coef, intercept, _column_means(Y, fallback=0.5), hp)


def _column_means(A: np.ndarray, fallback: float) -> np.ndarray:
    counts = np.sum(~np.isnan(A), axis=0)
    sums = np.nansum(A, axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), fallback)


def _fit_regressions(X: np.ndarray, Y: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """One logistic regression per model, each on the prompts that model was evaluated on."""
    m = Y.shape[1]
    coef = np.zeros((m, X.shape[1]))
    intercept = np.zeros(m)
    for j in range(m):
        rows = ~np.isnan(Y[:, j])
        coef[j], intercept[j] = _fit_soft_logistic(X[rows], Y[rows, j], c)
    return coef, intercept


def _fit_soft_logistic(X: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """Logistic regression on scores in [0, 1]: a score s counts as weight s of success and
    1 - s of failure, which maximises the same Bernoulli likelihood as binary labels would."""
    y = np.clip(y, 0.0, 1.0)
    mean = float(y.mean()) if len(y) else 0.5
    if len(y) < 2 or (np.all(y == y[0]) and y[0] in (0.0, 1.0)):
        # No contrast to learn from: a constant at the (clipped) observed rate.
        rate = min(max(mean, 0.01), 0.99)
        return np.zeros(X.shape[1]), float(np.log(rate / (1 - rate)))
    Xd = np.vstack([X, X])
    labels = np.r_[np.ones(len(y)), np.zeros(len(y))]
    weights = np.r_[y, 1.0 - y]
    keep = weights > 0
    clf = LogisticRegression(C=c, solver="newton-cholesky", max_iter=200)
    clf.fit(Xd[keep], labels[keep], sample_weight=weights[keep])
    return clf.coef_[0].copy(), float(clf.intercept_[0])


# ---------------------------------------------------------------- per request

def predict(model: QualityModel, x: np.ndarray, neighbour_scores: np.ndarray,
            neighbour_sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected score (m,) and confidence (m,) for one request.

    x: (d,) the request embedding (same embedder, L2-normalised). neighbour_scores: (k, m)
    score rows of its nearest train prompts, most similar first, NaN where a model has no
    result; neighbour_sims: (k,) their cosine similarities. Only the first
    hyperparameters["neighbours"] rows are used; fewer (even none) are fine.
    confidence_m = e / (e + prior_strength), e = weighted count of neighbours with a score
    for model m: 0 means the kNN half is the model's overall mean, near 1 means it is local.
    """
    hp = model.hyperparameters
    regression = _sigmoid(np.asarray(x, dtype=np.float64) @ model.coef.T + model.intercept)
    k = hp["neighbours"]
    knn, evidence = neighbour_estimate(np.asarray(neighbour_scores, dtype=np.float64)[:k],
                                       np.asarray(neighbour_sims, dtype=np.float64)[:k], model.prior,
                                       temperature=hp["temperature"], prior_strength=hp["prior_strength"],
                                       relevant_similarity=None)
    quality = hp["blend"] * regression + (1 - hp["blend"]) * knn
    return quality, evidence / (evidence + hp["prior_strength"])


# ---------------------------------------------------------------- the k-NN strategy's estimate

NEIGHBOURS = 50
# Neighbours this much less similar than the closest count e^-1 as much.
SIMILARITY_TEMPERATURE = 0.05
# Weight of the prior, in neighbour-equivalents, when shrinking the k-NN estimate.
PRIOR_STRENGTH = 2.0
# Below this similarity, the nearest evaluated prompt says little about the request.
RELEVANT_SIMILARITY = 0.3
# What a rated request (merged and completed: Evidence.field_merged) counts at most, against an
# evaluated prompt: most of its scores are read from the evaluations' links, not observed. Chosen
# by the feedback replay on LLMRouter (README: Feedback replay): 1 lost AIQ round after round.
FIELD_WEIGHT = 0.5
KNN = {"temperature": SIMILARITY_TEMPERATURE, "prior_strength": PRIOR_STRENGTH,
       "relevant_similarity": RELEVANT_SIMILARITY, "field_weight": FIELD_WEIGHT}



def neighbour_estimate(scores: np.ndarray, sims: np.ndarray, priors: np.ndarray, *, temperature: float,
                       prior_strength: float, relevant_similarity: float | None,
                       reference: np.ndarray | None = None, field_weight: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Similarity-weighted mean of the neighbours' scores per model, shrunk toward `priors`.

    scores (..., k, m), NaN where a model has no result; sims (..., k); priors (..., m). A
    neighbour `temperature` less similar than the closest counts e^-1 as much; when even the
    closest is below `relevant_similarity` (if given), every neighbour counts proportionally less. Returns
    the estimate (..., m) and the neighbours' total weight per model (..., m).
    `reference` (..., k), where given, marks the neighbours that set "the closest" (evaluated
    prompts, which score every model); the others (rated answers) count at most `field_weight`
    and never lower the weight of the reference neighbours, so feedback adds to the
    evaluations' evidence instead of diluting it for the models nobody rated."""
    if sims.shape[-1] == 0:
        return np.array(priors, dtype=np.float64), np.zeros(np.shape(priors))
    anchors = sims if reference is None or not reference.any() else np.where(reference, sims, -np.inf)
    top = anchors.max(axis=-1, keepdims=True)
    weights = np.exp(np.minimum(sims - top, 0.0) / temperature)
    if reference is not None and reference.any():
        weights = np.where(reference, weights, field_weight * weights)
    if relevant_similarity is not None:
        weights = weights * np.minimum(1.0, np.maximum(top, 0.0) / relevant_similarity)
    weights = weights[..., None]
    known = ~np.isnan(scores)
    total = (weights * known).sum(axis=-2)
    weighted = (weights * np.where(known, scores, 0.0)).sum(axis=-2)
    return (weighted + prior_strength * priors) / (total + prior_strength), total


def fit_shrinkage(X: np.ndarray, Y: np.ndarray, P: np.ndarray, *, k: int, knn: dict[str, Any],
                  chunk: int = 512) -> float:
    """How far the k-NN estimate should move from the prior: B in q = P + B (estimate - P).

    Each evidence prompt is estimated from its k nearest *other* evidence prompts (exact
    cosine search, leave-self-out) exactly as routing estimates a request; B is the
    least-squares slope of (score - P) on (estimate - P), pooled over prompts and models,
    clipped to [0, 1]. Where neighbours predict outcomes (distinct kinds of prompts), B is near
    1; where they are a random draw of the same task (RouterBench's few-shot prompts, which
    the shared in-context examples make ~0.99 similar to one another), it falls toward 0 and
    the estimate keeps to the task-level prior instead of following neighbour noise.
    X (n, d) L2-normalised; Y (n, m) scores, NaN where unknown; P (n, m) each prompt's prior;
    knn: neighbour_estimate's keyword arguments. 1.0 when there is too little to tell.
    """
    n = len(X)
    if n < 3:
        return 1.0
    X = np.asarray(X, dtype=np.float32)
    kk = min(k, n - 1)
    num = den = 0.0
    for start in range(0, n, chunk):
        rows = np.arange(start, min(start + chunk, n))
        sims = X[rows] @ X.T
        sims[np.arange(len(rows)), rows] = -np.inf  # leave self out
        idx = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        estimate, _ = neighbour_estimate(Y[idx], np.take_along_axis(sims, idx, axis=1), P[rows], **knn)
        x, y = estimate - P[rows], Y[rows] - P[rows]
        known = ~np.isnan(y)
        num += float((x[known] * y[known]).sum())
        den += float((x[known] ** 2).sum())
    return min(1.0, max(0.0, num / den)) if den > 1e-12 else 1.0


def expected_cost_from(neighbour_costs: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Median recorded cost (k, m) -> (m,) per model over the neighbours; `fallback` (e.g. a
    price-list estimate) where a model has no neighbour cost."""
    costs = np.asarray(neighbour_costs, dtype=np.float64)
    if len(costs) == 0:
        return np.array(fallback, dtype=np.float64)
    missing = np.isnan(costs)
    if not missing.any():
        return np.median(costs, axis=0)
    # NaN-aware median without np.nanmedian (≈10x slower): sorting puts NaNs last, so the
    # median of the n valid entries sits at positions (n-1)//2 and n//2.
    ordered = np.sort(costs, axis=0)
    n = (~missing).sum(axis=0)
    cols = np.arange(costs.shape[1])
    low = ordered[np.maximum(n - 1, 0) // 2, cols]
    high = ordered[np.maximum(n // 2, 0).clip(max=len(costs) - 1), cols]
    return np.where(n > 0, (low + high) / 2, fallback)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
