"""Quality-estimator study for the k-NN router (quality side; the cost side is cost_study.py).

Usage (always niced, one process: the machine is shared):
  nice -n 19 .venv/bin/python scripts/experiments/estimator_study.py cv [--dataset routerbench] [--seeds 8]
  nice -n 19 .venv/bin/python scripts/experiments/estimator_study.py test --dataset routerbench --variants baseline,best

Reuses cost_study's in-memory CV machinery: 5 folds of the TRAIN split (one fold queries, the
rest evidence), numpy copy of KnnStrategy, the evaluation's cost-weight grid, and scoring.rank's
pure Lagrangian (cost score 1 - $/reference, unclipped). Every variant is paired with the
baseline on the same seeds/folds; deltas are reported as mean +- sd over seeds, plus a paired
bootstrap over prompts (sampling noise of the data set itself). Read-only: nothing is written.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

_spec = importlib.util.spec_from_file_location("cost_study", "/work/main/scripts/experiments/cost_study.py")
cs = importlib.util.module_from_spec(_spec)
sys.modules["cost_study"] = cs
_spec.loader.exec_module(cs)  # type: ignore[union-attr]  (also runs django.setup())

from registry.models import Prompt  # noqa: E402
from routing.engine import strategies  # noqa: E402
from routing.learning import quality  # noqa: E402

KMAX = 100


# ------------------------------------------------------------------ data


def load(name: str):  # type: ignore[no-untyped-def]
    from routing.analysis.serving import analyzers as analyzer_cache
    D = cs.load_train(name)
    dom = dict(Prompt.objects.filter(id__in=list(D.ids)).values_list("id", "domain"))
    D.domain = np.array([dom[i] for i in D.ids], dtype=object)
    an = analyzer_cache.get()
    A = [an.analysis(x, tokens=1, pruned=False) for x in D.X]
    D.pred_domain = np.array([a.domain for a in A], dtype=object)
    D.task_conf = np.array([a.task_confidence for a in A])
    D.ltok = np.log(np.maximum(D.tokens, 1.0))
    # the prompt's last block (after the last blank line): in few-shot prompts, the actual question
    from registry.embedder import get_embedder
    texts = dict(Prompt.objects.filter(id__in=list(D.ids)).values_list("id", "text"))
    tails = [tail_of(texts[i]) for i in D.ids]
    Xt = np.asarray(get_embedder().encode(tails), dtype=np.float32)
    D.Xt = Xt / np.maximum(np.linalg.norm(Xt, axis=1, keepdims=True), 1e-9)
    return D


def tail_of(text: str) -> str:
    blocks = [b for b in text.strip().split("\n\n") if b.strip()]
    return blocks[-1] if blocks else text


@dataclass
class Fold:
    q: np.ndarray
    e: np.ndarray
    idx: np.ndarray   # (nq, KMAX) into e
    sims: np.ndarray  # (nq, KMAX)
    Sn: np.ndarray    # (nq, KMAX, m)
    Cn: np.ndarray


def make_folds(D, seed: int) -> list[Fold]:  # type: ignore[no-untyped-def]
    out = []
    n = len(D.ids)
    for q in cs.folds(n, 5, seed):
        e = np.setdiff1d(np.arange(n), q)
        idx, sims = cs.neighbours(D.X[q], D.X[e], KMAX)
        out.append(Fold(q, e, idx, sims, D.S[e][idx], D.C[e][idx]))
    return out


# ------------------------------------------------------------------ priors


def _col_stats(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.nansum(S, 0), (~np.isnan(S)).sum(0).astype(float)


def priors(D, f: Fold, kind: str = "task", a: float = 20.0) -> np.ndarray:  # type: ignore[no-untyped-def]
    """(nq, m) shrinkage target. 'task': the engine's (mean of the evidence prompts with the query's
    predicted task label, else overall). 'overall'. 'task_domain': hierarchical, task x domain mean
    shrunk to the task mean shrunk to overall, each with `a` pseudo-prompts."""
    Se = D.S[f.e]
    s0, n0 = _col_stats(Se)
    overall = s0 / np.maximum(n0, 1)
    nq = len(f.q)
    P = np.tile(overall, (nq, 1))
    if kind == "overall":
        return P
    pt = D.pred_task[f.q]
    pd = D.pred_domain[f.q]
    for t in np.unique(pt):
        rows = D.task[f.e] == t
        st, nt = _col_stats(Se[rows])
        if kind == "task":
            if rows.any():
                P[pt == t] = np.where(nt > 0, st / np.maximum(nt, 1), overall)
            continue
        task_p = (st + a * overall) / (nt + a)
        for d in np.unique(pd[pt == t]):
            rd = rows & (D.domain[f.e] == d)
            sd, nd = _col_stats(Se[rd])
            P[(pt == t) & (pd == d)] = (sd + a * task_p) / (nd + a)
    return P


# ------------------------------------------------------------------ quality estimators


def knn_q(D, f: Fold, k: int = 50, temp: float = 0.05, ps: float = 2.0, prior: np.ndarray | None = None,  # type: ignore[no-untyped-def]
          adapt: float = 0.0, adapt_ref: float = 0.0, len_tau: float = 0.0) -> np.ndarray:
    sims = f.sims[:, :k]
    top = sims[:, :1]
    relevance = np.where(top >= quality.RELEVANT_SIMILARITY, 1.0, top / quality.RELEVANT_SIMILARITY)
    w = np.exp((sims - top) / temp) * relevance
    if len_tau > 0:  # neighbours of similar length count more
        dl = np.abs(D.ltok[f.e][f.idx[:, :k]] - D.ltok[f.q][:, None])
        w = w * np.exp(-dl / len_tau)
    w = w[:, :, None]
    Sn = f.Sn[:, :k]
    known = ~np.isnan(Sn)
    total = (w * known).sum(1)
    weighted = (w * np.nan_to_num(Sn)).sum(1)
    P = priors(D, f) if prior is None else prior
    strength = np.full((len(f.q), 1), ps)
    if adapt > 0:  # stronger prior when the nearest neighbour is far: ps * exp(adapt * (ref - top) / 0.1)
        strength = ps * np.exp(adapt * np.maximum(adapt_ref - top, 0.0) / 0.1)
    return (weighted + strength * P) / (total + strength)


def cost_med(f: Fold, k: int = 50) -> np.ndarray:
    return np.nanmedian(f.Cn[:, :k], axis=1)


def learned_parts(D, f: Fold, lr_c: float = 3.0) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """routing.learning.quality fitted on the evidence folds only: (regression part, full learned estimate)."""
    model = quality.fit(D.X[f.e], D.S[f.e], {"lr_c": lr_c})
    hp = model.hyperparameters
    reg = quality._sigmoid(D.X[f.q].astype(np.float64) @ model.coef.T + model.intercept)
    k = hp["neighbours"]
    sims, Sn = f.sims[:, :k], f.Sn[:, :k]
    known = ~np.isnan(Sn)
    w = np.exp((sims - sims[:, :1]) / hp["temperature"])[:, :, None] * known
    ev = w.sum(1)
    tot = (w * np.nan_to_num(Sn)).sum(1)
    kq = (tot + hp["prior_strength"] * model.prior) / (ev + hp["prior_strength"])
    return reg, hp["blend"] * reg + (1 - hp["blend"]) * kq


def stack_len(D, f: Fold, base_q: np.ndarray, k=50, temp=0.05, ps=2.0) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Per-model logistic recalibration on [logit knn, log tokens, logit knn x log tokens], fitted on
    the evidence prompts' leave-self-out kNN estimates (neighbours within the evidence)."""
    from sklearn.linear_model import LogisticRegression
    e = f.e
    idx, sims = cs.neighbours(D.X[e], D.X[e], k + 1)
    keep = idx != np.arange(len(e))[:, None]
    # drop self (first occurrence) and keep k
    idx = np.array([r[m][:k] for r, m in zip(idx, keep)])
    sims = np.array([r[m][:k] for r, m in zip(sims, keep)])
    fe = Fold(e, e, idx, sims, D.S[e][idx], D.C[e][idx])
    # prior for evidence rows: task means of the evidence (self included: negligible with ~600+ per task)
    Pe = priors(D, Fold(e, e, idx, sims, fe.Sn, fe.Cn))
    Qe = knn_q(D, fe, k, temp, ps, prior=Pe)
    mu, sd = D.ltok[e].mean(), D.ltok[e].std() + 1e-9

    def feats(Q, lt):  # type: ignore[no-untyped-def]
        z = np.log(np.clip(Q, 1e-3, 1 - 1e-3) / (1 - np.clip(Q, 1e-3, 1 - 1e-3)))
        t = np.broadcast_to((lt - mu) / sd, z.shape)
        return np.stack([z, t, z * t], -1)
    out = np.empty_like(base_q)
    Fe, Fq = feats(Qe, D.ltok[e][:, None]), feats(base_q, D.ltok[f.q][:, None])
    for j in range(base_q.shape[1]):
        y = np.clip(D.S[e, j], 0, 1)
        ok = ~np.isnan(y)
        X2 = np.vstack([Fe[ok, j], Fe[ok, j]])
        lab = np.r_[np.ones(ok.sum()), np.zeros(ok.sum())]
        sw = np.r_[y[ok], 1 - y[ok]]
        clf = LogisticRegression(C=1.0, max_iter=300).fit(X2[sw > 0], lab[sw > 0], sample_weight=sw[sw > 0])
        out[:, j] = clf.predict_proba(Fq[:, j])[:, 1]
    return out


# ------------------------------------------------------------------ routing metrics


def route(D, Q: np.ndarray, C: np.ndarray, ref: float, grid: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """(points, n) choices with scoring.rank's pure Lagrangian (cost score 1 - $/ref), cheaper on ties."""
    return cs.decide(Q, C, grid, "lin_unclipped", ref, 1.0)


def metrics(D, ch: np.ndarray, sample: np.ndarray | None = None):  # type: ignore[no-untyped-def]
    rows = np.arange(D.S.shape[0])
    S_, C_ = D.S[rows, ch], 1000 * D.C[rows, ch]
    if sample is not None:
        S_, C_ = S_[:, sample], C_[:, sample]
    q, c = S_.mean(1), C_.mean(1)
    r50, r20 = cs.target_ratios(q, c, D.best_q, D.best_c)
    return np.array([r50, r20, cs.aiq_of(q, c)])


def boot_diff(D, ch_a: np.ndarray, ch_b: np.ndarray, B: int = 100, seed: int = 0) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Paired bootstrap over prompts of metrics(a) - metrics(b): (B, 3)."""
    rng = np.random.default_rng(seed)
    n = D.S.shape[0]
    rows = np.arange(n)
    Sa, Ca = D.S[rows, ch_a], 1000 * D.C[rows, ch_a]
    Sb, Cb = D.S[rows, ch_b], 1000 * D.C[rows, ch_b]
    out = []
    for _ in range(B):
        s = rng.integers(0, n, n)
        qa, ca, qb, cb = Sa[:, s].mean(1), Ca[:, s].mean(1), Sb[:, s].mean(1), Cb[:, s].mean(1)
        ma = np.array([*cs.target_ratios(qa, ca, D.best_q, D.best_c), cs.aiq_of(qa, ca)])
        mb = np.array([*cs.target_ratios(qb, cb, D.best_q, D.best_c), cs.aiq_of(qb, cb)])
        out.append(ma - mb)
    return np.array(out)


# ------------------------------------------------------------------ CV


def variants_for(D, f: Fold, seed_cache: dict, stage: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:  # type: ignore[no-untyped-def]
    """name -> (Q, cost estimate) for this fold's queries."""
    V: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    c50 = cost_med(f, 50)
    P_task = priors(D, f, "task")
    base = knn_q(D, f, prior=P_task)
    V["baseline"] = (base, c50)
    if stage in ("all", "prior"):
        V["prior=overall"] = (knn_q(D, f, prior=priors(D, f, "overall")), c50)
        for a in (5.0, 20.0, 80.0):
            V[f"prior=task_domain a={a:g}"] = (knn_q(D, f, prior=priors(D, f, "task_domain", a)), c50)
        ref = D.top_ref
        for g in (0.5, 1.0, 2.0):
            V[f"adaptive ps g={g:g}"] = (knn_q(D, f, prior=P_task, adapt=g, adapt_ref=ref), c50)
        P_td = priors(D, f, "task_domain", 20.0)
        V["task_domain a=20 + adaptive g=1"] = (knn_q(D, f, prior=P_td, adapt=1.0, adapt_ref=ref), c50)
    if stage in ("all", "grid"):
        for k in (20, 30, 50, 75, 100):
            ck = cost_med(f, k)
            for t in (0.02, 0.035, 0.05, 0.075, 0.1, 0.2):
                for ps in (0.5, 1.0, 2.0, 4.0, 8.0):
                    V[f"grid k={k} T={t:g} ps={ps:g}"] = (knn_q(D, f, k, t, ps, prior=P_task), ck)
    if stage in ("all", "learned"):
        reg, learned = learned_parts(D, f)
        for b in (0.25, 0.5, 0.75, 1.0):
            V[f"blend learned b={b:g}"] = ((1 - b) * base + b * learned, c50)
        for b in (0.25, 0.5):
            V[f"blend LR-only b={b:g}"] = ((1 - b) * base + b * reg, c50)
    if stage in ("all", "tail"):
        for a in (0.0, 0.5, 0.8):
            Xq = np.hstack([np.sqrt(a) * D.X[f.q], np.sqrt(1 - a) * D.Xt[f.q]])
            Xe = np.hstack([np.sqrt(a) * D.X[f.e], np.sqrt(1 - a) * D.Xt[f.e]])
            idx, sims = cs.neighbours(Xq, Xe, KMAX)
            ft = Fold(f.q, f.e, idx, sims, D.S[f.e][idx], D.C[f.e][idx])
            ct = cost_med(ft, 50)
            for t in (0.05, 0.1, 0.2):
                for ps in (2.0, 8.0):
                    V[f"tail-embed mix a={a:g} T={t:g} ps={ps:g}"] = (knn_q(D, ft, 50, t, ps, prior=P_task), ct)
    if stage == "blend":
        k100 = knn_q(D, f, 100, 0.05, 4.0, prior=P_task)
        c100 = cost_med(f, 100)
        for c in (1.0, 3.0):
            reg, learned = learned_parts(D, f, c)
            for b in (0.6, 0.75, 0.9):
                V[f"blend learned C={c:g} b={b:g}"] = ((1 - b) * base + b * learned, c50)
            for b in (0.4, 0.5, 0.6):
                V[f"blend LR-only C={c:g} b={b:g}"] = ((1 - b) * base + b * reg, c50)
            if c == 3.0:
                V["blend learned C=3 b=0.75, knn k=100 ps=4"] = (0.25 * k100 + 0.75 * learned, c100)
                V["blend LR-only C=3 b=0.5, knn k=100 ps=4"] = (0.5 * k100 + 0.5 * reg, c100)
    if stage in ("all", "length"):
        for tau in (0.25, 0.5, 1.0):
            V[f"length kernel tau={tau:g}"] = (knn_q(D, f, prior=P_task, len_tau=tau), c50)
        V["stack logit-knn x log-tokens"] = (stack_len(D, f, base), c50)
    return V


def cmd_cv(args: argparse.Namespace) -> None:
    D = load(args.dataset)
    n, m = D.S.shape
    ref = cs.set_baselines(D)  # scoring.rank's reference: the priciest model's typical call
    grid = cs.sweep_grid()
    t0 = time.time()
    # a typical top similarity (adaptive prior strength reference): median over a LOO pass
    _, s = cs.neighbours(D.X, D.X, 2)
    D.top_ref = float(np.median(s[:, 1]))
    print(f"{D.name}: n={n} m={m}; best {D.best_name} q={D.best_q:.3f}; pred-task acc "
          f"{np.mean(D.pred_task == D.task):.3f}, pred-domain acc {np.mean(D.pred_domain == D.domain):.3f}; "
          f"median top sim {D.top_ref:.3f}", flush=True)
    table: dict[str, list[np.ndarray]] = defaultdict(list)
    choices: dict[str, list[np.ndarray]] = defaultdict(list)
    for seed in range(args.seeds):
        Qs: dict[str, np.ndarray] = {}
        Cs: dict[str, np.ndarray] = {}
        for f in make_folds(D, seed):
            for name, (Q, C) in variants_for(D, f, {}, args.stage).items():
                Qs.setdefault(name, np.full((n, m), np.nan))[f.q] = Q
                Cs.setdefault(name, np.full((n, m), np.nan))[f.q] = C
        for name in Qs:
            ch = route(D, Qs[name], Cs[name], ref, grid)
            table[name].append(metrics(D, ch))
            if seed < args.boot_seeds:
                choices[name].append(ch)
        print(f"  seed {seed} done ({time.time() - t0:.0f}s)", flush=True)
    base = np.array(table["baseline"])
    rows = []
    for name, vals in table.items():
        a = np.array(vals)
        d = a - base
        rows.append((name, a.mean(0), d.mean(0), d.std(0, ddof=1)))
    rows.sort(key=lambda r: -(r[2][0] + r[2][1]))
    print(f"\n{D.name}: {args.seeds} seeds x 5 folds, OOF over all train prompts; delta = variant - baseline "
          f"(mean +- sd over seeds)")
    print(f"{'variant':36s} {'r50':>7s} {'r20':>7s} {'aiq':>7s} | {'d50':>16s} {'d20':>16s} {'daiq':>16s}")
    shown = rows if args.stage != "grid" else rows[:15] + [r for r in rows if r[0] == "baseline"]
    for name, mean, dm, ds in shown:
        print(f"{name:36s} {mean[0]:7.4f} {mean[1]:7.4f} {mean[2]:7.4f} | {dm[0]:+.4f}±{ds[0]:.4f} "
              f"{dm[1]:+.4f}±{ds[1]:.4f} {dm[2]:+.4f}±{ds[2]:.4f}")
    # paired bootstrap over prompts (data-set sampling noise) for the top few and named ones
    picks = [r[0] for r in rows[:3]] + [r[0] for r in rows if r[0] in args.also.split(",")]
    print("\npaired bootstrap over prompts (mean over first seeds; 100 draws each): d50 d20 daiq, sd")
    for name in dict.fromkeys(picks):
        if name == "baseline":
            continue
        bd = np.concatenate([boot_diff(D, ch, cb, 100, i) for i, (ch, cb) in
                             enumerate(zip(choices[name], choices["baseline"]))])
        print(f"{name:36s} {bd[:, 0].mean():+.4f}±{bd[:, 0].std():.4f} {bd[:, 1].mean():+.4f}±{bd[:, 1].std():.4f} "
              f"{bd[:, 2].mean():+.4f}±{bd[:, 2].std():.4f}   P(d50>0)={np.mean(bd[:, 0] > 0):.2f} "
              f"P(d20>0)={np.mean(bd[:, 1] > 0):.2f}")
    print(f"({time.time() - t0:.0f}s)")


# ------------------------------------------------------------------ test split (confirmation only)


class BlendStrategy:
    """The recommended change: KnnStrategy's estimate averaged with LearnedStrategy's (routing.learning.quality)."""

    name = "knn"

    def __init__(self, weight: float) -> None:
        self.weight = weight

    def quality(self, request, models, snapshot, neighbours):  # type: ignore[no-untyped-def]
        knn = strategies.KnnStrategy().quality(request, models, snapshot, neighbours)
        learned = strategies.LearnedStrategy().quality(request, models, snapshot, neighbours)
        b = self.weight
        return {mid: ((1 - b) * q + b * learned[mid][0], conf, n) for mid, (q, conf, n) in knn.items()}


def run_test(dataset: str, variant: str) -> dict:
    from routing.evaluation import harness as evaluation
    saved = (quality.NEIGHBOURS, quality.KNN, quality.PRIOR_STRENGTH)
    try:
        if variant.startswith("grid"):  # e.g. grid:k=75,T=0.1,ps=4
            kv = dict(x.split("=") for x in variant.split(":", 1)[1].split(";"))
            quality.NEIGHBOURS = int(kv["k"])
            quality.PRIOR_STRENGTH = float(kv["ps"])
            quality.KNN = {**quality.KNN, "temperature": float(kv["T"]), "prior_strength": float(kv["ps"])}
        elif variant.startswith("blend"):  # e.g. blend:b=0.75 -> (1-b) knn + b learned
            strategies.STRATEGIES["knn"] = BlendStrategy(float(variant.split("=")[1]))
        elif variant != "baseline":
            raise SystemExit(f"unknown variant {variant}")
        t0 = time.time()
        report = evaluation.evaluate(dataset_name=dataset, strategies=["knn"])
    finally:
        strategies.STRATEGIES["knn"] = strategies.KnnStrategy()
        quality.NEIGHBOURS, quality.KNN, quality.PRIOR_STRENGTH = saved
    t = report["targets"]["knn"]
    return {"dataset": dataset, "variant": variant, "r50": t["quality_ratio_at_50pct_cost"],
            "r20": t["quality_ratio_at_20pct_cost"], "aiq": report["strategies"]["knn"]["aiq"],
            "seconds": round(time.time() - t0)}


def cmd_test(args: argparse.Namespace) -> None:
    for variant in args.variants.split(","):
        print(json.dumps(run_test(args.dataset, variant)), flush=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("cmd")
    p.add_argument("--dataset", default="routerbench")
    p.add_argument("--variants", default="baseline")
    p.add_argument("--stage", default="all")
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--boot-seeds", type=int, default=2)
    p.add_argument("--also", default="")
    args = p.parse_args()
    {"cv": cmd_cv, "test": cmd_test}[args.cmd](args)


if __name__ == "__main__":
    main()
