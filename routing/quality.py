"""Per-request quality and cost estimates, and the budget-aware choice between models.

Pure numpy + scikit-learn: no Django, no database. The routing engine supplies the request's
embedding and its nearest evaluated prompts; this module turns them into, per candidate model,
an expected score in [0, 1] and an expected cost, and picks a model for a cost weight λ.

Recipe (chosen by 2x5-fold cross-validation on the RouterBench train split only; the
evaluation script is /tmp/est/evaluate_recipe.py):

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
* Decision: utility_m = Q_m - price(λ) * cost_m / cost_ref, choose argmax. A single global
  price per λ is the Lagrangian of "maximise mean quality subject to a mean-cost budget",
  which is what a cost weight is meant to trade; normalising by the per-request most
  expensive model (Q - λ·Ĉ/max Ĉ) distorts that trade and scored worse in CV.
  price(λ) is calibrated at fit time on out-of-fold estimates for the train prompts so that
  λ moves the expected mean cost evenly from the quality-maximising policy (λ=0) to the
  cheapest policy (λ=1). With a raw linear price almost the whole cost range is crossed for
  λ in [0, 0.2], so a λ sweep or a user's slider has little resolution where it matters.
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
    "calibration_folds": 5,    # folds for the out-of-fold estimates that calibrate price(λ)
    "price_knots": 101,        # λ grid on which price(λ) is stored
    "seed": 0,
}

# Price sweep searched when calibrating price(λ); u = Q - price * cost / cost_ref, so a price
# of 100 makes even a 1% cost difference outweigh any quality difference.
_PRICE_GRID = np.r_[0.0, np.logspace(-4, 2, 600)]


@dataclass
class QualityModel:
    """Everything `predict`, `expected_cost` and `choose` need; picklable (numpy arrays only)."""

    coef: np.ndarray            # (m, d) logistic-regression weights per model
    intercept: np.ndarray       # (m,)
    prior: np.ndarray           # (m,) train mean score per model: kNN shrinkage target
    mean_cost: np.ndarray       # (m,) train mean cost per model (USD): fallback cost estimate
    cost_ref: float             # USD; cost normaliser in the utility (priciest model's mean cost)
    prices: np.ndarray          # (price_knots,) price at λ = linspace(0, 1, price_knots)
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    @property
    def n_models(self) -> int:
        return len(self.prior)


# ---------------------------------------------------------------- fitting

def fit(X: np.ndarray, Y: np.ndarray, tasks: list[str] | None = None,
        costs: np.ndarray | None = None, lengths: np.ndarray | None = None,
        hyperparameters: dict[str, Any] | None = None) -> QualityModel:
    """Fit on train prompts.

    X: (n, d) L2-normalised embeddings. Y: (n, m) scores in [0, 1], NaN where a model has no
    result; columns in the caller's fixed model order. costs: (n, m) USD per call, NaN allowed;
    without it the price is not calibrated (price(λ) = λ, cost_ref = 1).
    tasks and lengths are accepted for interface stability but unused: neither task priors
    nor prompt length improved cross-validated routing once the embedding is used.
    hyperparameters: overrides of DEFAULT_HYPERPARAMETERS.
    """
    hp = {**DEFAULT_HYPERPARAMETERS, **(hyperparameters or {})}
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    coef, intercept = _fit_regressions(X, Y, hp["lr_c"])
    prior = _column_means(Y, fallback=0.5)
    if costs is None:
        return QualityModel(coef, intercept, prior, np.zeros(Y.shape[1]), 1.0,
                            np.linspace(0.0, 1.0, hp["price_knots"]), hp)
    costs = np.asarray(costs, dtype=np.float64)
    mean_cost = _column_means(costs, fallback=0.0)
    cost_ref = float(mean_cost.max()) or 1.0
    quality, cost_hat = _out_of_fold_estimates(X, Y, costs, prior, mean_cost, hp)
    prices = _calibrate_prices(quality, cost_hat, cost_ref, hp["price_knots"])
    return QualityModel(coef, intercept, prior, mean_cost, cost_ref, prices, hp)


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


def _out_of_fold_estimates(X: np.ndarray, Y: np.ndarray, costs: np.ndarray, prior: np.ndarray,
                           mean_cost: np.ndarray, hp: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Quality and cost estimates for each train prompt as if it were a new request: the
    regression from folds that exclude it, neighbours from the other train prompts. In-sample
    estimates are over-confident and would mis-place the calibrated prices."""
    n = len(X)
    rng = np.random.default_rng(hp["seed"])
    fold = rng.permutation(n) % hp["calibration_folds"]
    regression = np.zeros_like(Y)
    for f in range(hp["calibration_folds"]):
        coef, intercept = _fit_regressions(X[fold != f], Y[fold != f], hp["lr_c"])
        regression[fold == f] = _sigmoid(X[fold == f] @ coef.T + intercept)
    quality = np.zeros_like(Y)
    cost_hat = np.zeros_like(Y)
    k = hp["neighbours"]
    for start in range(0, n, 1024):  # chunks keep the similarity block small
        rows = np.arange(start, min(start + 1024, n))
        sims = X[rows] @ X.T
        sims[np.arange(len(rows)), rows] = -np.inf  # leave the prompt itself out
        nn = np.argpartition(-sims, k, axis=1)[:, :k]
        nn_sims = np.take_along_axis(sims, nn, axis=1)
        for i, r in enumerate(rows):
            knn, _ = _knn_quality(Y[nn[i]], nn_sims[i], prior, hp)
            quality[r] = hp["blend"] * regression[r] + (1 - hp["blend"]) * knn
            cost_hat[r] = expected_cost_from(costs[nn[i]], mean_cost)
    return quality, cost_hat


def _calibrate_prices(quality: np.ndarray, cost_hat: np.ndarray, cost_ref: float,
                      knots: int) -> np.ndarray:
    """price(λ) such that the expected mean cost of the chosen models on the train prompts
    falls linearly in λ from the λ=0 policy (pure quality) to the cheapest policy the price grid
    reaches. Expected rather than recorded costs: the chosen model's expected cost can only
    fall as the price rises, so the mapping is well defined without any noise from the
    recorded costs, and prompts with missing costs need no special case."""
    idx = np.arange(len(quality))
    spend = np.array([cost_hat[idx, _argmax_utility(quality, cost_hat, p, cost_ref)].mean()
                      for p in _PRICE_GRID])
    spend = np.minimum.accumulate(spend)  # guards against float ties only
    targets = spend[0] - np.linspace(0.0, 1.0, knots) * (spend[0] - spend[-1])
    # The smallest price whose policy costs no more than the target: least quality given up.
    first = np.searchsorted(-spend, -targets * (1 + 1e-12), side="left")
    return _PRICE_GRID[np.minimum(first, len(_PRICE_GRID) - 1)]


def _argmax_utility(quality: np.ndarray, cost: np.ndarray, price: float, cost_ref: float) -> np.ndarray:
    return np.argmax(quality - price * cost / cost_ref, axis=-1)


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
    knn, evidence = _knn_quality(np.asarray(neighbour_scores, dtype=np.float64),
                                 np.asarray(neighbour_sims, dtype=np.float64), model.prior, hp)
    quality = hp["blend"] * regression + (1 - hp["blend"]) * knn
    return quality, evidence / (evidence + hp["prior_strength"])


def _knn_quality(scores: np.ndarray, sims: np.ndarray, prior: np.ndarray,
                 hp: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Similarity-weighted neighbour mean per model, shrunk toward the prior; NaNs skipped."""
    k = hp["neighbours"]
    scores, sims = scores[:k], sims[:k]
    if len(sims) == 0:
        return prior.copy(), np.zeros_like(prior)
    known = ~np.isnan(scores)
    w = np.exp((sims - sims.max()) / hp["temperature"])[:, None] * known
    evidence = w.sum(axis=0)
    total = (w * np.where(known, scores, 0.0)).sum(axis=0)
    estimate = (total + hp["prior_strength"] * prior) / (evidence + hp["prior_strength"])
    return estimate, evidence


def expected_cost_from(neighbour_costs: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Median recorded cost (k, m) -> (m,) per model over the neighbours; `fallback` (e.g. a
    price-list estimate or QualityModel.mean_cost) where a model has no neighbour cost."""
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


def expected_cost(model: QualityModel, neighbour_costs: np.ndarray,
                  fallback: np.ndarray | None = None) -> np.ndarray:
    """Expected USD per call (m,) from the same first-k neighbours given to `predict`."""
    k = model.hyperparameters["neighbours"]
    return expected_cost_from(np.asarray(neighbour_costs)[:k],
                              model.mean_cost if fallback is None else fallback)


def price(model: QualityModel, lam: float) -> float:
    """Quality points given up per cost_ref USD at cost weight λ in [0, 1] (monotone)."""
    knots = np.linspace(0.0, 1.0, len(model.prices))
    return float(np.interp(min(max(lam, 0.0), 1.0), knots, model.prices))


def utility(model: QualityModel, quality: np.ndarray, cost: np.ndarray, lam: float) -> np.ndarray:
    """u_m = Q_m - price(λ) * Ĉ_m / cost_ref; higher is better. λ=0 is pure quality, λ=1 the
    cheapest policy; in between, λ moves the expected mean cost evenly between the two."""
    return quality - price(model, lam) * np.asarray(cost) / model.cost_ref


def choose(model: QualityModel, quality: np.ndarray, cost: np.ndarray, lam: float,
           allowed: np.ndarray | None = None) -> int:
    """Index of the model to call; `allowed` (m,) bool masks out models that fail hard
    constraints. Ties go to the cheaper model."""
    u = utility(model, quality, cost, lam)
    if allowed is not None:
        u = np.where(allowed, u, -np.inf)
    best = np.flatnonzero(u >= u.max() - 1e-12)
    return int(best[np.argmin(np.asarray(cost)[best])])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
