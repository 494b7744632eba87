"""Cost-side study for the k-NN router: per-prompt cost models, cost-score shapes, sweep.

Usage (always niced: the machine is shared):
  HF_HUB_OFFLINE=1 nice -n 19 .venv/bin/python scripts/experiments/cost_study.py costcv  [--dataset routerbench]
  HF_HUB_OFFLINE=1 nice -n 19 .venv/bin/python scripts/experiments/cost_study.py routecv [--dataset routerbench]
  HF_HUB_OFFLINE=1 nice -n 19 .venv/bin/python scripts/experiments/cost_study.py test --dataset routerbench --variants a,b

Read-only: nothing is written to the database. Train-split CV uses in-memory arrays only
(evidence matrices from routing.engine.snapshot, prompt embeddings from registry_prompt); the test
split is touched only by `test`, through routing.evaluation.harness's own functions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass

sys.path.insert(0, "/work/main")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "optiroute.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import django

django.setup()

import numpy as np  # noqa: E402

from registry.models import Dataset, Prompt  # noqa: E402
from registry.tokens import estimate_tokens  # noqa: E402
from routing import pipeline  # noqa: E402
from routing.engine import estimate as engine_estimate  # noqa: E402
from routing.engine import request as engine_request  # noqa: E402
from routing.engine import scoring, strategies  # noqa: E402
from routing.engine.snapshot import snapshots  # noqa: E402
from routing.learning import quality  # noqa: E402

K = quality.NEIGHBOURS
TEMP = quality.SIMILARITY_TEMPERATURE
PRIOR_STRENGTH = quality.PRIOR_STRENGTH


# ------------------------------------------------------------------ train data in memory


@dataclass
class TrainData:
    name: str
    ids: np.ndarray          # prompt ids (n,)
    X: np.ndarray            # (n, d) normalised embeddings
    tokens: np.ndarray       # (n,) estimate_tokens(text)
    task: np.ndarray         # (n,) train task_type label (object)
    pred_task: np.ndarray    # (n,) analyzer's task type from the embedding (what routing sees)
    S: np.ndarray            # (n, m) scores
    C: np.ndarray            # (n, m) costs
    llm_ids: list[int]
    names: list[str]


def load_train(name: str) -> TrainData:
    from routing.analysis.serving import analyzers as analyzer_cache

    ds = Dataset.objects.get(name=name)
    ev = snapshots.get().evidence
    snap = snapshots.get()
    llm_ids = sorted(snap.dataset_models[ds.id], key=lambda i: snap.models[i].name)
    rows = list(Prompt.objects.train().filter(dataset=ds).order_by("id").values_list("id", "text", "embedding",
                                                                                   "task_type"))
    ids = np.array([r[0] for r in rows])
    X = np.array([np.asarray(r[2], dtype=np.float32) for r in rows])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    tokens = np.array([estimate_tokens(r[1]) for r in rows], dtype=np.float64)
    task = np.array([r[3] for r in rows], dtype=object)
    analyzer = analyzer_cache.get()
    pred = np.array([analyzer.analysis(x, tokens=1, pruned=False).task_type for x in X], dtype=object)
    S, C = ev.neighbourhood(list(ids), llm_ids)
    names = [snap.models[i].name for i in llm_ids]
    return TrainData(name, ids, X, tokens, task, pred, S.astype(np.float64), C.astype(np.float64), llm_ids, names)


def folds(n: int, k: int = 5, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    return [np.sort(perm[i::k]) for i in range(k)]


def neighbours(Xq: np.ndarray, Xe: np.ndarray, k: int = K) -> tuple[np.ndarray, np.ndarray]:
    """(nq, k) indices into Xe and cosine similarities, best first."""
    sims = Xq @ Xe.T
    idx = np.argpartition(-sims, kth=min(k, sims.shape[1] - 1), axis=1)[:, :k]
    s = np.take_along_axis(sims, idx, axis=1)
    order = np.argsort(-s, axis=1)
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(s, order, axis=1)


# ------------------------------------------------------------------ cost predictors


def knn_median_cost(Cn: np.ndarray) -> np.ndarray:
    """Current engine: median neighbour cost. Cn (nq, k, m) -> (nq, m)."""
    return np.nanmedian(Cn, axis=1)


@dataclass
class CostModel:
    """Per model j: cost = exp(a_j + b_j * log tokens + c_j * log(neighbour median cost_j)), or linear."""
    coef: np.ndarray  # (m, p)
    kind: str


def cost_features(tokens: np.ndarray, med: np.ndarray, ntok_med: np.ndarray, kind: str) -> np.ndarray:
    """Per-request feature tensor (nq, m, p)."""
    _, m = med.shape
    lt = np.log(tokens)[:, None].repeat(m, 1)
    lm = np.log(np.maximum(med, 1e-9))
    ln = np.log(ntok_med)[:, None].repeat(m, 1)
    one = np.ones_like(lt)
    if kind == "log_tok":          # log c = a + b log tokens
        return np.stack([one, lt], -1)
    if kind == "log_tok_med":      # + c log(neighbour median cost)
        return np.stack([one, lt, lm], -1)
    if kind == "log_tok_med_ntok":  # + d log(neighbours' median tokens): separates input from output part
        return np.stack([one, lt, lm, ln], -1)
    if kind == "lin_tok_med":      # c = a + b tokens + c median (linear dollars)
        return np.stack([one, tokens[:, None].repeat(m, 1), med], -1)
    if kind == "ratio":            # c = med * (tok / neighbour median tok)^b  (scale-free), fitted in logs
        return np.stack([one, lt - ln, lm], -1)
    raise ValueError(kind)


def fit_cost_model(F: np.ndarray, y: np.ndarray, kind: str, ridge: float = 1e-3) -> CostModel:
    """F (n, m, p), y (n, m) recorded costs; per-model least squares (in logs unless linear)."""
    m, p = F.shape[1], F.shape[2]
    coef = np.zeros((m, p))
    linear = kind.startswith("lin")
    for j in range(m):
        ok = ~np.isnan(y[:, j]) & np.all(np.isfinite(F[:, j]), axis=1)
        if linear:
            t = y[ok, j]
        else:
            ok &= y[:, j] > 0
            t = np.log(y[ok, j])
        A = F[ok, j]
        coef[j] = np.linalg.solve(A.T @ A + ridge * np.eye(p), A.T @ t)
    return CostModel(coef, kind)


def predict_cost(model: CostModel, F: np.ndarray, smear: np.ndarray | None = None) -> np.ndarray:
    z = np.einsum("nmp,mp->nm", F, model.coef)
    if model.kind.startswith("lin"):
        return np.maximum(z, 1e-9)
    out = np.exp(z)
    return out * smear[None, :] if smear is not None else out


def neighbour_stats(D: TrainData, q: np.ndarray, e: np.ndarray) -> dict[str, np.ndarray]:
    idx, sims = neighbours(D.X[q], D.X[e])
    Cn = D.C[e][idx]  # (nq, k, m)
    Sn = D.S[e][idx]
    return {"idx": idx, "sims": sims, "Cn": Cn, "Sn": Sn, "med": knn_median_cost(Cn),
            "ntok_med": np.median(D.tokens[e][idx], axis=1)}


def cost_errors(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    ok = ~np.isnan(true) & (true > 0)
    lp, lt = np.log(pred[ok]), np.log(true[ok])
    rel = np.abs(pred[ok] - true[ok]) / true[ok]
    return {"mae_log": float(np.mean(np.abs(lp - lt))), "rmse_log": float(np.sqrt(np.mean((lp - lt) ** 2))),
            "median_rel_err": float(np.median(rel)),
            # ratio of predicted to true mean spend: calibration of the dollars the budget sees
            "mean_ratio": float(pred[ok].sum() / true[ok].sum())}


def cost_cv(D: TrainData, kinds: list[str], nfolds: int = 5) -> dict[str, dict[str, float]]:
    """Out-of-fold per-prompt cost predictions: a fold's prompts are queries, the rest evidence."""
    n, m = D.C.shape
    preds = {k: np.full((n, m), np.nan) for k in ["knn_median", *kinds]}
    for q in folds(n, nfolds):
        e = np.setdiff1d(np.arange(n), q)
        st = neighbour_stats(D, q, e)
        preds["knn_median"][q] = st["med"]
        # fit on the evidence part: each evidence prompt's features from its own neighbours in e (leave-self-out)
        st_e = neighbour_stats(D, e, e)
        # drop self-match (the nearest, similarity 1) by recomputing with k+1 and removing self
        idx, _ = neighbours(D.X[e], D.X[e], K + 1)
        self_free = np.array([row[row != i][:K] for i, row in enumerate(idx)])
        med_e = np.nanmedian(D.C[e][self_free], axis=1)
        ntok_e = np.median(D.tokens[e][self_free], axis=1)
        del st_e
        for kind in kinds:
            Fe = cost_features(D.tokens[e], med_e, ntok_e, kind)
            model = fit_cost_model(Fe, D.C[e], kind)
            smear = None
            if not kind.startswith("lin"):  # Duan smearing: exp(log-pred) is a median, scale to a mean
                resid = np.log(np.maximum(D.C[e], 1e-12)) - np.log(predict_cost(model, Fe))
                smear = np.nanmean(np.exp(resid), axis=0)
            Fq = cost_features(D.tokens[q], st["med"], st["ntok_med"], kind)
            preds[kind][q] = predict_cost(model, Fq, smear)
    out = {k: cost_errors(p, D.C) for k, p in preds.items()}
    # per model, for the two main ones
    per_model = {}
    for j, name in enumerate(D.names):
        per_model[name] = {k: round(cost_errors(preds[k][:, [j]], D.C[:, [j]])["mae_log"], 3)
                           for k in ["knn_median", *kinds]}
    out["_per_model_mae_log"] = per_model  # type: ignore[assignment]
    return out


def cmd_costcv(args: argparse.Namespace) -> None:
    D = load_train(args.dataset)
    print(f"{D.name}: {len(D.ids)} train prompts x {len(D.names)} models")
    # How much of a model's cost does the prompt's own length explain?
    for j, name in enumerate(D.names):
        ok = ~np.isnan(D.C[:, j]) & (D.C[:, j] > 0)
        r = np.corrcoef(np.log(D.tokens[ok]), np.log(D.C[ok, j]))[0, 1]
        print(f"  {name:40s} mean ${np.nanmean(D.C[:, j]):.2e}  corr(log tok, log cost)={r:.3f}")
    res = cost_cv(D, ["log_tok", "log_tok_med", "log_tok_med_ntok", "ratio", "lin_tok_med"])
    print(json.dumps(res, indent=1))


# ------------------------------------------------------------------ routing simulation on train CV


def set_baselines(D: TrainData) -> float:
    """D.best_name, best_q, best_c: the best single model (highest mean score), its quality and its
    cost per 1k; returns
    scoring.rank's cost reference, the priciest model's typical call."""
    means = np.nanmean(D.S, 0)
    best = int(np.argmax(means))
    D.best_q, D.best_c = float(means[best]), 1000 * float(np.nanmean(D.C[:, best]))  # type: ignore[attr-defined]
    D.best_name = D.names[best]  # type: ignore[attr-defined]
    return float(np.nanmean(D.C, 0).max())


def sweep_grid() -> np.ndarray:
    """The evaluation's cost-weight grid (routing.evaluation._sweep)."""
    from routing.evaluation.harness import SWEEP_POINTS
    return np.unique(np.r_[np.linspace(0.0, 1.0, SWEEP_POINTS), np.geomspace(1e-4, 0.1, 40)])


def knn_quality(D: TrainData, q: np.ndarray, e: np.ndarray, st: dict[str, np.ndarray]) -> np.ndarray:
    """KnnStrategy in numpy: similarity-weighted neighbour scores shrunk to the (predicted) task prior."""
    sims = st["sims"]
    top = sims[:, :1]
    relevance = np.where(top >= quality.RELEVANT_SIMILARITY, 1.0, top / quality.RELEVANT_SIMILARITY)
    w = (np.exp((sims - top) / TEMP) * relevance)[:, :, None]
    Sn = st["Sn"]
    known = ~np.isnan(Sn)
    total = (w * known).sum(1)
    weighted = (w * np.nan_to_num(Sn)).sum(1)
    # priors: per (task, model) over evidence prompts' own task labels (as ModelProfile), else overall
    overall = np.nanmean(D.S[e], axis=0)
    prior = np.tile(overall, (len(q), 1))
    for t in np.unique(D.pred_task[q]):
        rows = D.task[e] == t
        if rows.any():
            prior[D.pred_task[q] == t] = np.nanmean(D.S[e][rows], axis=0)
    return (weighted + PRIOR_STRENGTH * prior) / (total + PRIOR_STRENGTH)


def cost_scores(cost: np.ndarray, reference: float, alpha: float) -> np.ndarray:
    """scoring.rank's cost score: alpha * linear vs reference + (1 - alpha) * per-request log scale."""
    lin = np.maximum(0.0, 1.0 - cost / reference)
    lc = np.log(np.maximum(cost, 1e-9))
    lo, hi = lc.min(1, keepdims=True), lc.max(1, keepdims=True)
    span = hi - lo
    log = np.where(span < 1e-12, 1.0, 1.0 - (lc - lo) / np.where(span < 1e-12, 1.0, span))
    return alpha * lin + (1 - alpha) * log


def decide(Q: np.ndarray, cost_est: np.ndarray, params: np.ndarray, rule: str, reference: float,
           alpha: float = 0.5) -> np.ndarray:
    """Choices (len(params), nq). rule 'weighted': utility (1-w) q + w cost_score; 'lagrange': q - lam * $."""
    out = np.empty((len(params), Q.shape[0]), dtype=np.int64)
    if rule == "weighted":
        cs = cost_scores(cost_est, reference, alpha)
    elif rule == "lin_unclipped":     # 1 - $/reference, may go negative: exactly q - lam * $
        cs, rule = 1.0 - cost_est / reference, "weighted"
    elif rule == "lin_reqmax":        # 1 - $/(priciest candidate of this request): bounded, per-request lam
        cs, rule = 1.0 - cost_est / cost_est.max(1, keepdims=True), "weighted"
    elif rule == "lin_refmax":        # reference = max(typical priciest, this request's priciest)
        cs, rule = 1.0 - cost_est / np.maximum(reference, cost_est.max(1, keepdims=True)), "weighted"
    else:
        cs = None
    # ties go to the cheaper model: lexsort on (cost, -utility)
    for i, p in enumerate(params):
        u = (1 - p) * Q + p * cs if rule == "weighted" else Q - p * cost_est
        best = u.max(1, keepdims=True)
        tied = u >= best - 1e-12
        out[i] = np.where(tied, cost_est, np.inf).argmin(1)
    return out


def frontier(choices: np.ndarray, S: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(S.shape[0])
    return S[rows, choices].mean(1), 1000 * C[rows, choices].mean(1)


def aiq_of(quality: np.ndarray, cost: np.ndarray) -> float:
    from routing.evaluation.harness import Outcome, aiq
    return aiq([Outcome(float(a), float(b)) for a, b in zip(quality, cost)])


def target_ratios(quality: np.ndarray, cost: np.ndarray, best_q: float, best_c: float) -> tuple[float, float]:
    out = []
    for share in (0.5, 0.2):
        ok = cost <= share * best_c
        out.append(float(quality[ok].max() / best_q) if ok.any() else float("nan"))
    return out[0], out[1]


@dataclass
class OOF:
    """Out-of-fold estimates for every train prompt (each fold routed with the other folds as evidence)."""
    Q: np.ndarray
    costs: dict[str, np.ndarray]
    reference: np.ndarray  # per prompt: the priciest model's mean cost in its evidence


def oof_estimates(D: TrainData, nfolds: int = 5, seed: int = 0) -> OOF:
    n, m = D.S.shape
    Q = np.full((n, m), np.nan)
    kinds = ["log_tok_med_ntok", "ratio"]
    costs = {k: np.full((n, m), np.nan) for k in ["median", "mean", "true", *kinds]}
    ref = np.zeros(n)
    for q in folds(n, nfolds, seed):
        e = np.setdiff1d(np.arange(n), q)
        st = neighbour_stats(D, q, e)
        Q[q] = knn_quality(D, q, e, st)
        costs["median"][q] = st["med"]
        costs["mean"][q] = np.nanmean(st["Cn"], axis=1)
        costs["true"][q] = D.C[q]
        idx, _ = neighbours(D.X[e], D.X[e], K + 1)
        self_free = np.array([row[row != i][:K] for i, row in enumerate(idx)])
        med_e = np.nanmedian(D.C[e][self_free], axis=1)
        ntok_e = np.median(D.tokens[e][self_free], axis=1)
        for kind in kinds:
            Fe = cost_features(D.tokens[e], med_e, ntok_e, kind)
            model = fit_cost_model(Fe, D.C[e], kind)
            resid = np.log(np.maximum(D.C[e], 1e-12)) - np.log(predict_cost(model, Fe))
            smear = np.nanmean(np.exp(resid), axis=0)
            costs[kind][q] = predict_cost(model, cost_features(D.tokens[q], st["med"], st["ntok_med"], kind), smear)
        ref[q] = np.nanmean(D.C[e], axis=0).max()
    return OOF(Q, costs, ref)


def route_cv_table(D: TrainData, oof: OOF, configs: list[tuple[str, str, str, float, np.ndarray]]) -> list[dict]:
    """Each config (label, cost estimate, rule, alpha, params) routed over all OOF prompts."""
    means = np.nanmean(D.S, axis=0)
    best = int(np.argmax(means))
    best_q, best_c = float(np.nanmean(D.S[:, best])), 1000 * float(np.nanmean(D.C[:, best]))
    rows = []
    for label, cost_kind, rule, alpha, params in configs:
        ch = decide(oof.Q, oof.costs[cost_kind], params, rule, float(np.median(oof.reference)), alpha)
        qual, cost = frontier(ch, D.S, D.C)
        r50, r20 = target_ratios(qual, cost, best_q, best_c)
        rows.append({"config": label, "r50": round(r50, 4), "r20": round(r20, 4), "aiq": round(aiq_of(qual, cost), 5),
                     "points": len(np.unique(np.c_[qual, cost], axis=0))})
    return rows


def lam_grid(n: int = 141) -> np.ndarray:
    return np.r_[0.0, np.geomspace(1.0, 1e5, n - 1)]


def hull_at(quality: np.ndarray, cost: np.ndarray, cap: float) -> float:
    """Best quality on the upper hull of the points (mixtures of two sweep points) at cost <= cap."""
    pts = sorted(set(zip(cost.tolist(), quality.tolist())))
    best = max((q for c, q in pts if c <= cap), default=float("nan"))
    for (c1, q1) in pts:
        for (c2, q2) in pts:
            if c1 <= cap < c2:
                best = max(best, q1 + (q2 - q1) * (cap - c1) / (c2 - c1))
    return best


def cmd_shapecv(args: argparse.Namespace) -> None:
    """Shapes compared on dense grids (quasi-continuous curves) so the grid is not what differs."""
    D = load_train(args.dataset)
    means = np.nanmean(D.S, axis=0)
    best = int(np.argmax(means))
    best_q, best_c = float(np.nanmean(D.S[:, best])), 1000 * float(np.nanmean(D.C[:, best]))
    dense_w = np.unique(np.r_[np.linspace(0, 1, 1000), np.geomspace(1e-5, 0.5, 2000)])
    configs = [(f"a={a} dense w | median", "median", "weighted", a, dense_w) for a in (0.0, 0.25, 0.5, 0.75, 1.0)]
    configs += [(f"{r} dense w | median", "median", r, 1.0, dense_w) for r in ("lin_unclipped", "lin_reqmax", "lin_refmax")]
    configs += [(f"{r} eval grid | median", "median", r, 1.0, sweep_grid()) for r in ("lin_unclipped", "lin_refmax")]
    configs += [("a=0.5 eval grid | median (= current)", "median", "weighted", 0.5, sweep_grid())]
    configs += [("lagrange dense | median", "median", "lagrange", 0.0, lam_grid(3000)),
                ("lagrange dense | mean", "mean", "lagrange", 0.0, lam_grid(3000)),
                ("lagrange dense | log_tok_med_ntok", "log_tok_med_ntok", "lagrange", 0.0, lam_grid(3000)),
                ("lagrange dense | true (oracle cost)", "true", "lagrange", 0.0, lam_grid(3000))]
    table = defaultdict(list)
    for seed in range(args.seeds):
        oof = oof_estimates(D, seed=seed)
        ref = float(np.median(oof.reference))
        for label, kind, rule, alpha, params in configs:
            ch = decide(oof.Q, oof.costs[kind], params, rule, ref, alpha)
            qual, cost = frontier(ch, D.S, D.C)
            r50, r20 = target_ratios(qual, cost, best_q, best_c)
            h50, h20 = (hull_at(qual, cost, s * best_c) / best_q for s in (0.5, 0.2))
            table[label].append((r50, r20, h50, h20, aiq_of(qual, cost)))
    base = np.array(table[configs[2][0]])
    print(f"{D.name}: dense grids, {args.seeds} seeds x 5 folds; mean (and paired diff vs a=0.5 with sd over seeds)")
    print(f"{'config':40s} {'r50':>7s} {'r20':>7s} {'hull50':>7s} {'hull20':>7s} {'aiq':>8s} | d_r50 d_r20 d_aiq")
    for label, *_ in configs:
        a = np.array(table[label])
        d = a - base
        print(f"{label:40s} " + " ".join(f"{x:7.4f}" for x in a.mean(0)[:4]) + f" {a.mean(0)[4]:8.5f} | "
              f"{d[:, 0].mean():+.4f}±{d[:, 0].std():.4f} {d[:, 1].mean():+.4f}±{d[:, 1].std():.4f} "
              f"{d[:, 4].mean():+.5f}")


def cmd_routecv(args: argparse.Namespace) -> None:
    D = load_train(args.dataset)
    t0 = time.time()
    w = sweep_grid()
    configs = []
    for kind in ["median", "mean", "log_tok_med_ntok", "ratio", "true"]:
        configs.append((f"current shape (a=0.5) | cost={kind}", kind, "weighted", 0.5, w))
    for alpha in (0.0, 0.25, 0.75, 1.0):
        configs.append((f"shape a={alpha} | cost=median", "median", "weighted", alpha, w))
    for kind in ["median", "mean", "log_tok_med_ntok", "true"]:
        configs.append((f"lagrange q-lam*$ (141 lam) | cost={kind}", kind, "lagrange", 0.0, lam_grid()))
    configs.append(("lagrange q-lam*$ (1000 lam) | cost=mean", "mean", "lagrange", 0.0, lam_grid(1000)))
    configs.append(("current shape, 1000 w | cost=median", "median", "weighted", 0.5,
                    np.unique(np.r_[np.linspace(0, 1, 500), np.geomspace(1e-4, 0.1, 500)])))
    results = []
    for seed in range(args.seeds):
        oof = oof_estimates(D, seed=seed)
        results.append(route_cv_table(D, oof, configs))
    print(f"{D.name}: {args.seeds} x 5-fold OOF routing over {len(D.ids)} train prompts ({time.time() - t0:.0f}s)")
    print(f"{'config':55s} {'r50':>7s} {'r20':>7s} {'aiq':>8s} {'pts':>4s}")
    for i, (label, *_rest) in enumerate(configs):
        r = [res[i] for res in results]
        print(f"{label:55s} {np.mean([x['r50'] for x in r]):7.4f} {np.mean([x['r20'] for x in r]):7.4f} "
              f"{np.mean([x['aiq'] for x in r]):8.5f} {int(np.mean([x['points'] for x in r])):4d}")


def pareto_mask(D: TrainData, q: np.ndarray, e: np.ndarray, by_task: bool) -> np.ndarray:
    """(nq, m) True where the model is on the evidence's mean (cost, quality) Pareto frontier
    (of the query's predicted task, or overall)."""
    def front(S: np.ndarray, C: np.ndarray) -> np.ndarray:
        mq, mc = np.nanmean(S, 0), np.nanmean(C, 0)
        dominated = np.array([np.any((mq > mq[j]) & (mc <= mc[j])) for j in range(len(mq))])
        return ~dominated
    mask = np.tile(front(D.S[e], D.C[e]), (len(q), 1))
    if by_task:
        for t in np.unique(D.pred_task[q]):
            rows = D.task[e] == t
            if rows.sum() >= 30:
                mask[D.pred_task[q] == t] = front(D.S[e][rows], D.C[e][rows])
    return mask


def cmd_decisioncv(args: argparse.Namespace) -> None:
    """Other decision-side ideas: Pareto-pruned candidate sets; isotonic-calibrated quality."""
    from sklearn.isotonic import IsotonicRegression
    D = load_train(args.dataset)
    n, m = D.S.shape
    means = np.nanmean(D.S, axis=0)
    best = int(np.argmax(means))
    best_q, best_c = float(np.nanmean(D.S[:, best])), 1000 * float(np.nanmean(D.C[:, best]))
    grid, dense = sweep_grid(), lam_grid(3000)
    table = defaultdict(list)
    for seed in range(args.seeds):
        oof = oof_estimates(D, seed=seed)
        ref = float(np.median(oof.reference))
        masks = {"all": np.ones((n, m), bool)}
        cal = np.full((n, m), np.nan)
        for qf in folds(n, 5, seed):
            e = np.setdiff1d(np.arange(n), qf)
            masks.setdefault("pareto", np.ones((n, m), bool))[qf] = pareto_mask(D, qf, e, False)
            masks.setdefault("pareto_task", np.ones((n, m), bool))[qf] = pareto_mask(D, qf, e, True)
            # calibration map fitted on the evidence folds' own OOF estimates (nested: those are OOF
            # w.r.t. a different split, so they only approximate; good enough for a go/no-go)
            for j in range(m):
                ok = ~np.isnan(D.S[e, j])
                iso = IsotonicRegression(out_of_bounds="clip").fit(oof.Q[e[ok], j], D.S[e[ok], j])
                cal[qf, j] = iso.predict(oof.Q[qf, j])
        for qname, Q in (("knnQ", oof.Q), ("isoQ", cal)):
            for mname, mask in masks.items():
                Qm = np.where(mask, Q, -10.0)
                for rule, params, alpha in (("weighted", grid, 0.5), ("lin_unclipped", grid, 1.0),
                                            ("lagrange", dense, 0.0)):
                    ch = decide(Qm, oof.costs["median"], params, rule, ref, alpha)
                    qual, cost = frontier(ch, D.S, D.C)
                    r50, r20 = target_ratios(qual, cost, best_q, best_c)
                    table[(qname, mname, rule)].append((r50, r20, aiq_of(qual, cost)))
    base = np.array(table[("knnQ", "all", "weighted")])
    print(f"{D.name}: {args.seeds} seeds x 5 folds; paired diff vs current (knnQ, all, weighted a=0.5, eval grid)")
    for key, vals in table.items():
        a = np.array(vals)
        d = a - base
        print(f"{'/'.join(key):32s} r50 {a[:, 0].mean():.4f} r20 {a[:, 1].mean():.4f} aiq {a[:, 2].mean():.5f} | "
              f"d50 {d[:, 0].mean():+.4f}±{d[:, 0].std():.4f} d20 {d[:, 1].mean():+.4f}±{d[:, 1].std():.4f} "
              f"daiq {d[:, 2].mean():+.5f}±{d[:, 2].std():.5f}")


# ------------------------------------------------------------------ test split, through routing.evaluation


def rank_lagrangian(candidates: list[engine_request.Candidate], weights: dict[str, float]) -> list[engine_request.Candidate]:
    """scoring.rank with the cost score linear in expected dollars and not clipped at 0, so that
    (1-w)*quality + w*cost ranks exactly as quality - lambda*dollars, lambda = w/((1-w)*reference)."""
    if not candidates:
        return []
    reference = max(c.typical_cost_usd for c in candidates) or 1.0
    cost = {c.llm.id: 1.0 - c.cost_usd / reference for c in candidates}
    latency = scoring.inverted_log_scale({c.llm.id: c.latency_ms for c in candidates})
    total_weight = sum(weights.values()) or 1.0
    for c in candidates:
        c.scores = {"accuracy": c.quality, "cost": cost[c.llm.id], "latency": latency[c.llm.id], **c.declared}
        c.utility = sum(weights.get(dim, 0.0) * value for dim, value in c.scores.items()) / total_weight
    return sorted(candidates, key=lambda c: (-c.utility, c.cost_usd, c.llm.name))


_ORIGINAL = {"rank": scoring.rank, "costs": engine_estimate.neighbour_costs}


def _mean_neighbour_costs(models, request, snapshot, neighbours):  # type: ignore[no-untyped-def]
    """Mean (not median) recorded neighbour cost: what a mean-spend budget adds up."""
    _, costs = snapshot.evidence.neighbourhood([pid for pid, _ in neighbours], [m.id for m in models])
    out = {}
    for j, llm in enumerate(models):
        col = costs[:, j][~np.isnan(costs[:, j])]
        out[llm.id] = float(col.mean()) if len(col) else costs.expected_cost(llm, request, snapshot)
    return out


def _length_model_costs_factory(dataset: str):  # type: ignore[no-untyped-def]
    """Per-model log-linear cost model fitted on all train prompts (features: log own tokens, log
    neighbour median cost, log neighbours' median tokens), applied to the request's own tokens."""
    D = load_train(dataset)
    n = len(D.ids)
    idx, _ = neighbours(D.X, D.X, K + 1)
    self_free = np.array([row[row != i][:K] for i, row in enumerate(idx)])
    med = np.nanmedian(D.C[self_free], axis=1)
    ntok = np.median(D.tokens[self_free], axis=1)
    kind = "log_tok_med_ntok"
    F = cost_features(D.tokens, med, ntok, kind)
    model = fit_cost_model(F, D.C, kind)
    smear = np.nanmean(np.exp(np.log(np.maximum(D.C, 1e-12)) - np.log(predict_cost(model, F))), axis=0)
    col = {mid: j for j, mid in enumerate(D.llm_ids)}
    tok_by_pid = dict(zip(D.ids.tolist(), D.tokens.tolist()))
    del n

    def costs(models, request, snapshot, nbrs):  # type: ignore[no-untyped-def]
        base = _ORIGINAL["costs"](models, request, snapshot, nbrs)
        ntok_med = float(np.median([tok_by_pid[p] for p, _ in nbrs if p in tok_by_pid] or [request.tokens]))
        out = {}
        for llm in models:
            j = col.get(llm.id)
            if j is None:
                out[llm.id] = base[llm.id]
                continue
            f = cost_features(np.array([float(max(request.tokens, 1))]), np.array([[base[llm.id]]]),
                              np.array([ntok_med]), kind)
            out[llm.id] = float(np.exp(f[0, 0] @ model.coef[j]) * smear[j])
        return out
    return costs


def run_eval(dataset: str, variant: str) -> dict:
    from routing.evaluation import harness as evaluation
    scoring.rank = _ORIGINAL["rank"]
    engine_estimate.neighbour_costs = _ORIGINAL["costs"]
    if "lagr" in variant:
        scoring.rank = rank_lagrangian
    if "meancost" in variant:
        engine_estimate.neighbour_costs = _mean_neighbour_costs
    if "lencost" in variant:
        engine_estimate.neighbour_costs = _length_model_costs_factory(dataset)
    t0 = time.time()
    report = evaluation.evaluate(dataset_name=dataset, strategies=["knn"])
    scoring.rank = _ORIGINAL["rank"]
    engine_estimate.neighbour_costs = _ORIGINAL["costs"]
    t = report["targets"]["knn"]
    return {"dataset": dataset, "variant": variant, "r50": t["quality_ratio_at_50pct_cost"],
            "r20": t["quality_ratio_at_20pct_cost"], "aiq": report["strategies"]["knn"]["aiq"],
            "points": len(report["strategies"]["knn"]["points"]), "seconds": round(time.time() - t0)}


def cmd_test(args: argparse.Namespace) -> None:
    for variant in args.variants.split(","):
        print(json.dumps(run_eval(args.dataset, variant)), flush=True)


def test_decisions(dataset: str, variants: dict[str, tuple]) -> dict:
    """Like evaluation.evaluate for knn, but estimates once and applies several (rank, grid, cost)
    variants; labels are read after every decision is made. Returns per-variant choice matrices."""
    from routing.evaluation import harness as evaluation
    ds = Dataset.objects.get(name=dataset)
    evaluation.analyzer_train()
    evaluation.estimator_train()
    evaluation.estimators.clear()
    if hasattr(Prompt.objects, "widen_search"):
        Prompt.objects.widen_search(1000)
    snapshot = snapshots.get()
    prompts = list(Prompt.objects.test().filter(dataset=ds).order_by("id").only("id", "text"))
    requests = evaluation._requests(ds, prompts)
    out = {}
    for name, (rank_fn, grid, cost_fn) in variants.items():
        engine_estimate.neighbour_costs = cost_fn or _ORIGINAL["costs"]
        ests = [pipeline.estimates_for(r, snapshot, strategies.STRATEGIES["knn"]) for r in requests]
        engine_estimate.neighbour_costs = _ORIGINAL["costs"]
        choices = np.array([[rank_fn(e.candidates, {"accuracy": 1.0 - w, "cost": w})[0].llm.id for e in ests]
                            for w in grid])
        out[name] = choices
    labels = evaluation._test_labels(ds)
    base = evaluation.baselines(ds, labels)
    pids = [p.id for p in prompts]
    return {"choices": out, "labels": labels, "pids": pids, "base": base}


def score_choices(choices: np.ndarray, labels: dict, pids: list[int], sample: np.ndarray | None = None):
    sample = np.arange(len(pids)) if sample is None else sample
    q = np.array([[labels[pids[i]][row[i]][0] for i in sample] for row in choices]).mean(1)
    c = 1000 * np.array([[labels[pids[i]][row[i]][1] for i in sample] for row in choices]).mean(1)
    return q, c


def cmd_testcurves(args: argparse.Namespace) -> None:
    grid = sweep_grid()
    dense = np.unique(np.r_[np.linspace(0, 1, 1000), np.geomspace(1e-5, 0.5, 2000)])
    variants = {"baseline": (_ORIGINAL["rank"], grid, None), "lagr": (rank_lagrangian, grid, None),
                "baseline_dense": (_ORIGINAL["rank"], dense, None), "lagr_dense": (rank_lagrangian, dense, None)}
    if args.variants:
        variants = {k: v for k, v in variants.items() if k in args.variants.split(",")}
    res = test_decisions(args.dataset, variants)
    labels, pids, base = res["labels"], res["pids"], res["base"]
    bq, bc = base["best_single"]["quality"], base["best_single"]["cost_per_1k"]
    # pre-extract label matrices for fast bootstrap
    llm_cols = sorted({m for p in pids for m in labels[p]})
    col = {m: j for j, m in enumerate(llm_cols)}
    Sq = np.array([[labels[p].get(m, (np.nan, np.nan))[0] for m in llm_cols] for p in pids])
    Cq = np.array([[labels[p].get(m, (np.nan, np.nan))[1] for m in llm_cols] for p in pids])
    rng = np.random.default_rng(0)
    boots = [rng.integers(0, len(pids), len(pids)) for _ in range(200)]
    stats = {}
    for name, ch in res["choices"].items():
        J = np.vectorize(col.get)(ch)
        rows = np.arange(len(pids))
        S_, C_ = Sq[rows, J], 1000 * Cq[rows, J]  # (points, n)
        q, c = S_.mean(1), C_.mean(1)
        r50, r20 = target_ratios(q, c, bq, bc)
        b = []
        for s_ in boots:
            qq, cc = S_[:, s_].mean(1), C_[:, s_].mean(1)
            b.append(target_ratios(qq, cc, bq, bc))
        stats[name] = np.array(b)
        h50, h20 = (hull_at(q, c, share * bc) / bq for share in (0.5, 0.2))
        print(f"{name:16s} r50 {r50:.4f} r20 {r20:.4f} hull50 {h50:.4f} hull20 {h20:.4f} aiq {aiq_of(q, c):.5f} "
              f"points {len(np.unique(np.c_[q, c], axis=0))}")
    for name in stats:
        if name != "baseline" and "baseline" in stats:
            d = stats[name] - stats["baseline"]
            print(f"paired bootstrap {name} - baseline: d_r50 {d[:, 0].mean():+.4f} (sd {d[:, 0].std():.4f}), "
                  f"d_r20 {d[:, 1].mean():+.4f} (sd {d[:, 1].std():.4f}); "
                  f"baseline sd r50 {stats['baseline'][:, 0].std():.4f}")


# ------------------------------------------------------------------ main


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("cmd")
    p.add_argument("--dataset", default="routerbench")
    p.add_argument("--variants", default="")
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    commands = {"costcv": cmd_costcv, "routecv": cmd_routecv, "shapecv": cmd_shapecv, "test": cmd_test,
                "decisioncv": cmd_decisioncv, "testcurves": cmd_testcurves}
    commands[args.cmd](args)


if __name__ == "__main__":
    main()
