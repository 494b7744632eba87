"""Per-model calibration of the k-NN quality estimates: a read-only, train-split-only CV study.

Usage (always niced, one process at a time: the machine is shared):
  HF_HUB_OFFLINE=1 nice -n 19 .venv/bin/python scripts/experiments/calibration_study.py \
      --dataset routerbench [--seeds 10] [--boot-seeds 3] [--inner 5]

Question: does a per-model monotone map from KnnStrategy's estimate to the observed score improve
the cost/quality sweep? For every seed, 5 outer folds of the TRAIN split (one fold queries, the
other four evidence), exactly as estimator_study.py `cv`:

  * baseline: estimator_study.knn_q (numpy KnnStrategy: k=50, T=0.05, task prior, strength 2),
    neighbour-median cost, engine.rank's pure Lagrangian over the evaluation's cost-weight grid.
  * calibrated: for each model, a map g_j fitted on the evidence folds only, on NESTED out-of-fold
    k-NN estimates of the evidence prompts (so no evidence prompt's own label was used to make the
    estimate the calibrator sees), then applied to the query fold's baseline estimates:
      - iso:   IsotonicRegression(increasing=True, out_of_bounds="clip")
      - platt: sigmoid(a * logit(q) + b), 2 parameters, cross-entropy on the (soft) scores
    Nested estimates are made two ways:
      - "inner5": the evidence split again into `--inner` folds (evidence of evidence = 4/5 of it)
      - "loo":    leave-one-out inside the evidence (neighbours and task prior exclude the prompt
                  itself), whose evidence density matches the outer queries' best.
  Routing cost estimates are the baseline's for every variant: only quality changes.

Reported per data set: mean metrics and the deltas variant - baseline (mean +- sd over seeds; the
same folds and seeds for both), the t-value of the mean delta over seeds, a paired bootstrap over
prompts (data-set sampling noise) on the first `--boot-seeds` seeds, and the Brier score / log loss
of the estimates as a calibration check. Read-only: only train-split prompts and their evidence are
loaded (via cost_study.load_train); nothing is written anywhere.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections import defaultdict

import numpy as np

_spec = importlib.util.spec_from_file_location("estimator_study",
                                               "/work/main/scripts/experiments/estimator_study.py")
es = importlib.util.module_from_spec(_spec)
sys.modules["estimator_study"] = es
_spec.loader.exec_module(es)  # type: ignore[union-attr]  (imports cost_study, runs django.setup())
cs = es.cs

from sklearn.isotonic import IsotonicRegression  # noqa: E402

K = cs.K  # engine.NEIGHBOURS
EPS = 1e-4


# ------------------------------------------------------------------ nested out-of-fold estimates


def task_prior(D, q: np.ndarray, e: np.ndarray, exclude_self: bool = False) -> np.ndarray:  # type: ignore[no-untyped-def]
    """(len(q), m) the engine's prior: per-model mean over evidence prompts whose (true) task label
    equals the query's predicted task, else the evidence's overall mean. With exclude_self (q == e,
    leave-one-out) each prompt's own score is taken out of the sums it would otherwise be part of."""
    Se = D.S[e]
    known = ~np.isnan(Se)
    s0, n0 = np.nansum(Se, 0), known.sum(0).astype(float)
    own_s = np.nan_to_num(D.S[q]) if exclude_self else np.zeros((len(q), Se.shape[1]))
    own_n = (~np.isnan(D.S[q])).astype(float) if exclude_self else np.zeros((len(q), Se.shape[1]))
    overall = (s0 - own_s) / np.maximum(n0 - own_n, 1)
    P = overall.copy()
    pt = D.pred_task[q]
    for t in np.unique(pt):
        rows = D.task[e] == t
        if not rows.any():
            continue
        st, nt = np.nansum(Se[rows], 0), known[rows].sum(0).astype(float)
        sel = pt == t
        mine = (D.task[q][sel] == t)[:, None] if exclude_self else np.zeros((sel.sum(), 1), bool)
        s_ = st - np.where(mine, own_s[sel], 0.0)
        n_ = nt - np.where(mine, own_n[sel], 0.0)
        P[sel] = np.where(n_ > 0, s_ / np.maximum(n_, 1), overall[sel])
    return P


def fold_estimates(D, q: np.ndarray, e: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Baseline k-NN estimates for prompts q with prompts e as evidence (q and e disjoint)."""
    idx, sims = cs.neighbours(D.X[q], D.X[e], K)
    f = es.Fold(q, e, idx, sims, D.S[e][idx], D.C[e][idx])
    return es.knn_q(D, f, prior=task_prior(D, q, e))


def nested_oof(D, e: np.ndarray, inner: int, seed: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """k-NN estimates for every evidence prompt made without its own label. inner > 1: inner
    K-fold within e; inner == 0: leave-one-out within e (self dropped from neighbours and prior)."""
    Q = np.full((len(e), D.S.shape[1]), np.nan)
    if inner > 1:
        for qi in cs.folds(len(e), inner, 1000 + seed):
            ei = np.setdiff1d(np.arange(len(e)), qi)
            Q[qi] = fold_estimates(D, e[qi], e[ei])
        return Q
    idx, sims = cs.neighbours(D.X[e], D.X[e], K + 1)
    keep = idx != np.arange(len(e))[:, None]  # drop self (duplicates of a prompt are other prompts)
    idx = np.array([r[k][:K] for r, k in zip(idx, keep)])
    sims = np.array([r[k][:K] for r, k in zip(sims, keep)])
    f = es.Fold(e, e, idx, sims, D.S[e][idx], D.C[e][idx])
    return es.knn_q(D, f, prior=task_prior(D, e, e, exclude_self=True))


# ------------------------------------------------------------------ calibrators


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def fit_platt(x: np.ndarray, y: np.ndarray, ridge: float = 1e-6, iters: int = 50) -> np.ndarray:
    """(a, b) minimising the cross-entropy of sigmoid(a * logit(x) + b) against soft targets y in
    [0, 1] (Newton's method from the identity map a=1, b=0)."""
    z = logit(x)
    A = np.c_[z, np.ones_like(z)]
    theta = np.array([1.0, 0.0])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(A @ theta)))
        grad = A.T @ (p - y) + ridge * theta
        H = (A * (p * (1 - p))[:, None]).T @ A + ridge * np.eye(2)
        step = np.linalg.solve(H, grad)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return theta


def calibrate(Qfit: np.ndarray, Sfit: np.ndarray, Qapply: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-model map fitted on (Qfit, Sfit) and applied to Qapply. Returns (calibrated, params),
    params = per-model Platt (a, b), NaN for isotonic."""
    out = np.empty_like(Qapply)
    params = np.full((Qapply.shape[1], 2), np.nan)
    for j in range(Qapply.shape[1]):
        ok = ~np.isnan(Sfit[:, j]) & ~np.isnan(Qfit[:, j])
        x, y = Qfit[ok, j], np.clip(Sfit[ok, j], 0.0, 1.0)
        if kind == "iso":
            iso = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(x, y)
            out[:, j] = iso.predict(Qapply[:, j])
        elif kind == "platt":
            a, b = params[j] = fit_platt(x, y)
            out[:, j] = 1 / (1 + np.exp(-(a * logit(Qapply[:, j]) + b)))
        else:
            raise ValueError(kind)
    return out, params


# ------------------------------------------------------------------ one seed


def one_seed(D, seed: int, inner: int) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, list]]:  # type: ignore[no-untyped-def]
    """OOF quality estimates over all train prompts for every variant, the (shared) cost estimates,
    and the Platt parameters fitted per outer fold."""
    n, m = D.S.shape
    Qs: dict[str, np.ndarray] = defaultdict(lambda: np.full((n, m), np.nan))
    Cost = np.full((n, m), np.nan)
    platt: dict[str, list] = defaultdict(list)
    for f in es.make_folds(D, seed):
        base = es.knn_q(D, f, prior=task_prior(D, f.q, f.e))
        Qs["baseline"][f.q] = base
        Cost[f.q] = es.cost_med(f, K)
        for scheme, inner_k in ((f"inner{inner}", inner), ("loo", 0)):
            Qe = nested_oof(D, f.e, inner_k, seed)
            for kind in ("iso", "platt"):
                cal, params = calibrate(Qe, D.S[f.e], base, kind)
                Qs[f"{kind} ({scheme})"][f.q] = cal
                if kind == "platt":
                    platt[scheme].append(params)
    return dict(Qs), Cost, platt


def scores(Q: np.ndarray, S: np.ndarray) -> tuple[float, float]:
    """Brier score and log loss of estimates Q against (soft) observed scores S."""
    ok = ~np.isnan(S)
    q, s = np.clip(Q[ok], EPS, 1 - EPS), np.clip(S[ok], 0, 1)
    return float(np.mean((q - s) ** 2)), float(-np.mean(s * np.log(q) + (1 - s) * np.log(1 - q)))


# ------------------------------------------------------------------ main


def run(args: argparse.Namespace) -> None:
    t0 = time.time()
    D = cs.load_train(args.dataset)
    n, m = D.S.shape
    ref = cs.set_baselines(D)  # engine.rank's reference: the priciest model's typical call
    grid = cs.sweep_grid()
    s_ok = D.S[~np.isnan(D.S)]
    print(f"{D.name}: n={n} train prompts x m={m} models; best single {D.best_name} q={D.best_q:.4f} "
          f"${D.best_c:.4f}/1k; scores binary {np.mean((s_ok == 0) | (s_ok == 1)):.1%}; "
          f"loaded in {time.time() - t0:.0f}s", flush=True)

    table: dict[str, list[np.ndarray]] = defaultdict(list)
    calib: dict[str, list[tuple[float, float]]] = defaultdict(list)
    choices: dict[str, list[np.ndarray]] = defaultdict(list)
    platt_all: dict[str, list] = defaultdict(list)
    for seed in range(args.seeds):
        Qs, Cost, platt = one_seed(D, seed, args.inner)
        for scheme, p in platt.items():
            platt_all[scheme].extend(p)
        for name, Q in Qs.items():
            ch = es.route(D, Q, Cost, ref, grid)
            table[name].append(es.metrics(D, ch))
            calib[name].append(scores(Q, D.S))
            if seed < args.boot_seeds:
                choices[name].append(ch)
        print(f"  seed {seed} done ({time.time() - t0:.0f}s)", flush=True)

    base = np.array(table["baseline"])
    print(f"\n{D.name}: {args.seeds} seeds x 5 outer folds (nested: inner {args.inner}-fold and LOO), "
          f"OOF over all train prompts; delta = variant - baseline, mean +- sd over seeds "
          f"[t = mean / (sd / sqrt(seeds))]")
    print(f"{'variant':18s} {'r50':>7s} {'r20':>7s} {'aiq':>7s} {'brier':>7s} {'logloss':>7s} | "
          f"{'d_r50':>22s} {'d_r20':>22s} {'d_aiq':>22s}")
    for name, vals in table.items():
        a = np.array(vals)
        d = a - base
        mu, sd = d.mean(0), d.std(0, ddof=1) if len(d) > 1 else np.zeros(3)
        t = np.where(sd > 0, mu / np.maximum(sd, 1e-12) * np.sqrt(len(d)), 0.0)
        b = np.mean(calib[name], 0)
        cells = " ".join(f"{mu[i]:+.4f}±{sd[i]:.4f} t={t[i]:+5.1f}" for i in range(3))
        print(f"{name:18s} {a[:, 0].mean():7.4f} {a[:, 1].mean():7.4f} {a[:, 2].mean():7.4f} "
              f"{b[0]:7.4f} {b[1]:7.4f} | {cells}")

    print(f"\npaired bootstrap over prompts ({args.boot_seeds} seeds x 200 draws): mean±sd of the delta, "
          f"P(delta > 0)")
    for name in table:
        if name == "baseline":
            continue
        bd = np.concatenate([es.boot_diff(D, ch, cb, 200, i) for i, (ch, cb) in
                             enumerate(zip(choices[name], choices["baseline"]))])
        print(f"{name:18s} d_r50 {bd[:, 0].mean():+.4f}±{bd[:, 0].std():.4f} P>0 {np.mean(bd[:, 0] > 0):.2f} | "
              f"d_r20 {bd[:, 1].mean():+.4f}±{bd[:, 1].std():.4f} P>0 {np.mean(bd[:, 1] > 0):.2f} | "
              f"d_aiq {bd[:, 2].mean():+.4f}±{bd[:, 2].std():.4f} P>0 {np.mean(bd[:, 2] > 0):.2f}")

    print("\nPlatt maps sigmoid(a*logit(q)+b), per model, mean over outer folds and seeds (a>1: estimates "
          "too timid, a<1: overconfident):")
    for scheme, plist in platt_all.items():
        P = np.mean(plist, 0)
        print(f"  {scheme:7s} " + ", ".join(f"{nm.split('/')[-1][:22]} a={a:.2f} b={b:+.2f}"
                                            for nm, (a, b) in zip(D.names, P)))
    print(f"({time.time() - t0:.0f}s)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="routerbench")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--boot-seeds", type=int, default=3)
    p.add_argument("--inner", type=int, default=5, help="inner folds for the nested estimates (>1)")
    args = p.parse_args()
    if args.inner < 2:
        p.error("--inner must be >= 2 (leave-one-out is always run as well)")
    run(args)


if __name__ == "__main__":
    main()
