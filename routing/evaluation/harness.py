"""The evaluation harness: route a dataset's test prompts with train evidence only, sweep cost weight.

A decision sees the query text and the train split; test labels (scores, costs, task types,
domains) are read only after every decision is made, to score them.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from optiroute.api_errors import OptiRouteError
from registry.models import LLM, Dataset, Dimension, EvaluationResult, Prompt
from routing.analysis.training import analyzer_train
from routing.engine.request import Estimates, Request
from routing.engine.scoring import choose
from routing.engine.snapshot import snapshots
from routing.engine.strategies import DEFAULT_STRATEGY, STRATEGIES
from routing.evaluation.cascade import CASCADE, Replayed, cascade_replay, unavailable_reason
from routing.learning.estimator import estimator_train, estimators
from routing.pipeline import estimates_for, request_build

SWEEP_POINTS = 101
MAX_SWEEP_POINTS = 600
REFINE_COST_GAP = 0.005  # of the expected-cost range: finer than this, the curve is drawn


@dataclass
class Outcome:
    quality: float
    cost_per_1k: float

    def as_dict(self) -> dict[str, float]:
        return {"quality": round(self.quality, 4), "cost_per_1k": round(self.cost_per_1k, 5)}


def _results(dataset: Dataset, split: str, dimension: str) -> Any:
    """The dataset's results of one split on one dimension, of the models routing may choose
    (an inactive model, e.g. one without a published price, is no baseline the router could match)."""
    return EvaluationResult.objects.filter(prompt__dataset=dataset, prompt__split=split, dimension=dimension,
                                           llm__is_active=True)


def _test_labels(dataset: Dataset, dimension: str = Dimension.ACCURACY) -> dict[int, dict[int, tuple[float, float]]]:
    labels: dict[int, dict[int, tuple[float, float]]] = defaultdict(dict)
    for prompt_id, llm_id, score, cost in _results(dataset, "test", dimension).values_list(
            "prompt_id", "llm_id", "score", "cost_usd"):
        labels[prompt_id][llm_id] = (score, cost)
    return labels


def _train_means(dataset: Dataset, dimension: str) -> dict[int, tuple[float, float]]:
    sums: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])  # type: ignore[arg-type]
    for llm_id, score, cost in _results(dataset, "train", dimension).values_list("llm_id", "score", "cost_usd"):
        entry = sums[llm_id]
        entry[0] += score
        entry[1] += cost
        entry[2] += 1
    return {llm_id: (s / n, c / n) for llm_id, (s, c, n) in sums.items()}


def _complete(labels: dict[int, dict[int, tuple[float, float]]]) -> dict[int, dict[int, tuple[float, float]]]:
    """The test prompts on which every model has a result. Public dimension data leaves gaps (a
    summary that was refused is no score); a decision for a model without a result there could not
    be scored, so such prompts are left out for every strategy and baseline alike."""
    models = set().union(*labels.values()) if labels else set()
    return {pid: row for pid, row in labels.items() if len(row) == len(models)}


def _outcome(choices: dict[int, int], labels: dict[int, dict[int, tuple[float, float]]]) -> Outcome:
    choices = {pid: llm_id for pid, llm_id in choices.items() if pid in labels}
    scores = [labels[pid][llm_id][0] for pid, llm_id in choices.items()]
    costs = [labels[pid][llm_id][1] for pid, llm_id in choices.items()]
    return Outcome(float(np.mean(scores)), 1000 * float(np.mean(costs)))


def aiq(points: list[Outcome]) -> float:
    """RouterBench's AIQ: area under the non-decreasing upper convex hull of (cost, quality) / max cost."""
    pts = sorted({(p.cost_per_1k, p.quality) for p in points})
    if not pts or pts[-1][0] <= 0:
        return 0.0
    hull: list[tuple[float, float]] = []
    for point in pts:
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], point) >= 0:
            hull.pop()
        hull.append(point)
    best = -1.0
    monotone = []
    for cost, quality in hull:
        best = max(best, quality)
        monotone.append((cost, best))
    area = sum((c2 - c1) * (q1 + q2) / 2 for (c1, q1), (c2, q2) in itertools.pairwise(monotone))
    area += (pts[-1][0] - monotone[-1][0]) * monotone[-1][1]
    return area / pts[-1][0]


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def baselines(dataset: Dataset, labels: dict[int, dict[int, tuple[float, float]]],
              dimension: str = Dimension.ACCURACY) -> dict[str, Any]:
    models = {m.id: m.name for m in LLM.objects.filter(id__in={llm for row in labels.values() for llm in row})}
    prompt_ids = list(labels)
    singles = {llm_id: _outcome({pid: llm_id for pid in prompt_ids if llm_id in labels[pid]}, labels)
               for llm_id in models}
    train = _train_means(dataset, dimension)
    best = max(train, key=lambda m: (train[m][0], -train[m][1]))
    cheapest = min(train, key=lambda m: (train[m][1], -train[m][0]))
    oracle = {pid: min(labels[pid], key=lambda m: (-labels[pid][m][0], labels[pid][m][1])) for pid in prompt_ids}
    rng = random.Random(0)
    random_runs = [_outcome({pid: rng.choice(list(labels[pid])) for pid in prompt_ids}, labels) for _ in range(20)]
    return {
        "best_single": {"model": models[best], **singles[best].as_dict()},
        "oracle": _outcome(oracle, labels).as_dict(),
        "random": Outcome(float(np.mean([r.quality for r in random_runs])),
                          float(np.mean([r.cost_per_1k for r in random_runs]))).as_dict(),
        "cheapest": {"model": models[cheapest], **singles[cheapest].as_dict()},
        "single_models": {models[m]: o.as_dict() for m, o in sorted(singles.items(), key=lambda kv: models[kv[0]])},
    }


Progress = Callable[[str, int], None]  # (stage, percent done)


def _no_progress(stage: str, percent: int) -> None:
    pass


def _requests(prompts: list[Prompt], evidence_ids: tuple[int, ...], progress: Progress = _no_progress) -> list[Request]:
    # The text only, as the API builds a request: no test label reaches the router.
    requests = []
    for n, prompt in enumerate(prompts):
        if n % 20 == 0:
            progress(f"analysing test prompt {n + 1} of {len(prompts)}", 10 + 40 * n // len(prompts))
        requests.append(request_build(text=prompt.text, dataset_ids=evidence_ids)[0])
    return requests


def _routing_refresh() -> None:
    """Train what routing uses on the current train evidence (no-ops when nothing changed)."""
    analyzer_train()
    estimator_train()
    estimators.clear()


def curve(*, dataset: Dataset, evidence_ids: tuple[int, ...], strategy: str = DEFAULT_STRATEGY) -> dict[str, Any]:
    """`dataset`'s test split routed on the evidence of `evidence_ids` (e.g. a share of its train
    split and the feedback folded since), swept and scored exactly as `evaluate` does: the AIQ, and
    the best quality at no more than half the best single model's cost (None if no point is)."""
    prompts = list(Prompt.objects.test().filter(dataset=dataset).order_by("id").only("id", "text"))
    _routing_refresh()
    snapshot = snapshots.get()
    sweep = _sweep(prompts, [estimates_for(r, snapshot, STRATEGIES[strategy]) for r in _requests(prompts, evidence_ids)])
    labels = _test_labels(dataset)  # read only now, to score the decisions made above
    points = [_outcome(choices, labels) for _, choices in sweep]
    half_cost = baselines(dataset, labels)["best_single"]["cost_per_1k"] / 2
    within = [p.quality for p in points if p.cost_per_1k <= half_cost]
    return {"aiq": round(aiq(points), 5), "quality_at_half_cost": round(max(within), 4) if within else None,
            "points": [p.as_dict() for p in points]}


def evaluate(*, dataset_name: str, strategies: list[str] | None = None, weights: dict[str, float] | None = None,
             progress: Progress = _no_progress, dimension: str = Dimension.ACCURACY) -> dict[str, Any]:
    """evaluate_router's report. With `weights` (a profile's eight sliders), the report's "profile"
    entry is where those weights land: the default strategy's choices under them, scored alike.
    With another `dimension` than accuracy, routing weighs that dimension against cost and the
    report's quality is its mean score; its estimate is the k-NN one (routing.engine.estimate
    .dimension_estimates), so only the knn strategy is measured."""
    if dimension not in Dimension.values:
        raise OptiRouteError(f"unknown dimension {dimension!r}; known: {', '.join(Dimension.values)}")
    dataset = Dataset.objects.filter(name=dataset_name).first()
    if dataset is None:
        raise OptiRouteError(f"unknown dataset {dataset_name!r}")
    prompts = list(Prompt.objects.test().filter(dataset=dataset).order_by("id").only("id", "text"))
    if not prompts or not Prompt.objects.train().filter(dataset=dataset).exists():
        raise OptiRouteError(f"dataset {dataset_name!r} needs both a train and a test split")
    accuracy = dimension == Dimension.ACCURACY
    names = strategies or ([*STRATEGIES, CASCADE] if accuracy else ["knn"])
    if not accuracy and names != ["knn"]:
        raise OptiRouteError(f"--dimension {dimension} is estimated by the knn strategy only")
    if not _results(dataset, "test", dimension).exists():
        raise OptiRouteError(f"dataset {dataset_name!r} has no {dimension} results of an active model in its test split")
    unknown = [n for n in names if n not in STRATEGIES and n != CASCADE]
    if unknown:
        raise OptiRouteError(f"unknown strategy {', '.join(unknown)}; known: {', '.join([*STRATEGIES, CASCADE])}")
    cascade_reason = unavailable_reason(dataset) if CASCADE in names else None
    routed = [n for n in names if n != CASCADE]
    # Train what routing uses on the current train evidence (no-ops when nothing changed).
    progress("training the router on the train split", 2)
    _routing_refresh()
    snapshot = snapshots.get()
    requests = _requests(prompts, (dataset.id,), progress)
    dimensions = () if accuracy else (dimension,)
    curves, profile_choices = {}, None
    profile_strategy = DEFAULT_STRATEGY if DEFAULT_STRATEGY in names else next(iter(routed), None)
    cascades, cascade_estimates = None, []
    for i, name in enumerate(names):
        progress(f"routing with the {name} strategy", 50 + 45 * i // len(names))
        if name == CASCADE:
            if cascade_reason is None:  # the cascade escalates by the default strategy's estimates
                cascade_estimates = [estimates_for(r, snapshot, STRATEGIES[DEFAULT_STRATEGY]) for r in requests]
                cascades = cascade_replay(dataset=dataset, prompts=prompts, requests=requests,
                                          estimates=cascade_estimates)
            continue
        estimates = [estimates_for(r, snapshot, STRATEGIES[name], dimensions=dimensions) for r in requests]
        curves[name] = _sweep(prompts, estimates, dimension)
        if weights is not None and name == profile_strategy:
            profile_choices = {p.id: choose(e, weights)[0].llm.id for p, e in zip(prompts, estimates)}
    progress("scoring the choices on the test labels", 95)
    # Read only now, to score the decisions made above.
    labels = _complete(_test_labels(dataset, dimension))
    report_strategies = {}
    for name, sweep in curves.items():
        points = [(w, _outcome(choices, labels)) for w, choices in sweep]
        report_strategies[name] = {"aiq": round(aiq([o for _, o in points]), 5),
                                   "points": [{"cost_weight": round(w, 6), **o.as_dict()} for w, o in points]}
    base = baselines(dataset, labels, dimension)
    if cascades is not None:
        report_strategies[CASCADE] = _cascade_curve(cascades, labels)
        # A reference, computed after every decision above: the same cascades with their policy
        # learned from the test split's own outcomes (as the oracle knows each prompt's best model).
        fitted = _cascade_curve(cascade_replay(dataset=dataset, prompts=prompts, requests=requests,
                                               estimates=cascade_estimates, fitted_on="test"), labels)
        base["cascade_fitted_on_test"] = {**fitted, **targets(base, {CASCADE: fitted})[CASCADE]}
    best = max(report_strategies, key=lambda n: float(cast(float, report_strategies[n]["aiq"])), default=None)
    # The strategy routing uses when a request names none (chosen over both datasets of
    # ../shared/data), and the one with the best AIQ on this dataset alone.
    default = DEFAULT_STRATEGY if DEFAULT_STRATEGY in report_strategies else best
    report = {"dataset": dataset.name, "dimension": dimension,
              "n_train": Prompt.objects.train().filter(dataset=dataset).count(), "n_test": len(prompts),
              "n_test_scored": len(labels), "baselines": base, "strategies": report_strategies,
              "default_strategy": default, "best_aiq_strategy": best, "targets": targets(base, report_strategies)}
    if CASCADE in names:
        report[CASCADE] = {"available": cascade_reason is None, **({"reason": cascade_reason} if cascade_reason else {})}
    if profile_choices is not None:
        report["profile"] = {"weights": weights, "strategy": profile_strategy,
                             **_outcome(profile_choices, labels).as_dict()}
    return report


def _cascade_curve(sweep: list[tuple[float, dict[int, Replayed]]],
                   labels: dict[int, dict[int, tuple[float, float]]]) -> dict[str, Any]:
    """The replayed cascades scored: the returned answer's score, the sum of the calls' costs."""
    points = []
    for weight, replayed in sweep:
        decisions = {pid: d for pid, d in replayed.items() if pid in labels}  # prompts every model answered
        outcome = Outcome(float(np.mean([labels[pid][d.returned][0] for pid, d in decisions.items()])),
                          1000 * float(np.mean([d.cost_usd for d in decisions.values()])))
        points.append((weight, outcome, {
            "calls_per_prompt": round(float(np.mean([len(d.calls) for d in decisions.values()])), 3),
            "escalated_share": round(float(np.mean([d.escalated for d in decisions.values()])), 4)}))
    return {"aiq": round(aiq([o for _, o, _ in points]), 5),
            "points": [{"cost_weight": round(w, 6), **o.as_dict(), **extra} for w, o, extra in points]}


def _sweep(prompts: list[Prompt], estimates: list[Estimates],
           dimension: str = Dimension.ACCURACY) -> list[tuple[float, dict[int, int]]]:
    """The cost weight from 0 to 1, with points placed by the router's own cost estimates.

    A fixed grid leaves wide gaps where the choices shift fast: one step of 0.01 moved RouterBench's
    expected spend by a fifth of the budget at 20% of GPT-4's cost. So a pair of neighbouring
    weights whose mean *expected* cost (the router's estimate, never a test label) differs by
    more than REFINE_COST_GAP of the curve's range is split at its midpoint, until the gaps are
    closed, the weights are 1e-5 apart, or MAX_SWEEP_POINTS is reached.
    """
    swept: dict[float, tuple[dict[int, int], float]] = {}

    def at(weight: float) -> float:
        if weight not in swept:
            weights = {dimension: 1.0 - weight, "cost": weight}
            chosen = [choose(e, weights)[0] for e in estimates]
            swept[weight] = ({p.id: c.llm.id for p, c in zip(prompts, chosen)},
                             float(np.mean([c.cost_usd for c in chosen])))
        return swept[weight][1]

    # Dense near 0: with costs spanning two orders of magnitude, most trade-offs happen there.
    for weight in np.unique(np.r_[np.linspace(0.0, 1.0, SWEEP_POINTS), np.geomspace(1e-4, 0.1, 40)]):
        at(float(weight))
    spread = max(at(w) for w in swept) - min(at(w) for w in swept)
    while spread > 0 and len(swept) < MAX_SWEEP_POINTS:
        ordered = sorted(swept)
        gaps = [(abs(at(a) - at(b)), a, b) for a, b in itertools.pairwise(ordered) if b - a > 1e-5]
        widest = [(a, b) for gap, a, b in gaps if gap > REFINE_COST_GAP * spread]
        if not widest:
            break
        for a, b in widest[:MAX_SWEEP_POINTS - len(swept)]:
            at((a + b) / 2)
    return [(weight, swept[weight][0]) for weight in sorted(swept)]


def targets(base: dict[str, Any], strategies: dict[str, Any]) -> dict[str, Any]:
    """Best quality kept (as a share of the best single model's) within 50% and 20% of its cost."""
    best_q, best_c = base["best_single"]["quality"], base["best_single"]["cost_per_1k"]
    out: dict[str, dict[str, float | None]] = {}
    for name, data in strategies.items():
        out[name] = {}
        for share in (0.5, 0.2):
            within = [p["quality"] for p in data["points"] if p["cost_per_1k"] <= share * best_c]
            out[name][f"quality_ratio_at_{int(share * 100)}pct_cost"] = round(max(within) / best_q, 4) if within else None
    return out


def plot(report: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11.5, 6))
    for name, outcome in report["baselines"]["single_models"].items():
        ax.scatter(outcome["cost_per_1k"], outcome["quality"], color="grey", s=25)
        ax.annotate(name.split("/")[-1], (outcome["cost_per_1k"], outcome["quality"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    for key, marker in (("best_single", "*"), ("random", "x"), ("oracle", "D"), ("cheapest", "v")):
        b = report["baselines"][key]
        ax.scatter(b["cost_per_1k"], b["quality"], marker=marker, s=90, label=key.replace("_", " "), zorder=3)
    for name, data in report["strategies"].items():
        xs = [p["cost_per_1k"] for p in data["points"]]
        ys = [p["quality"] for p in data["points"]]
        ax.plot(xs, ys, marker="o", markersize=3, label=f"{name} (AIQ {data['aiq']:.3f})")
    fitted = report["baselines"].get("cascade_fitted_on_test")
    if fitted:
        ax.plot([p["cost_per_1k"] for p in fitted["points"]], [p["quality"] for p in fitted["points"]],
                linestyle="--", color="grey", label=f"reference: cascade fitted on test (AIQ {fitted['aiq']:.3f})")
    ax.set_xscale("symlog", linthresh=0.01)
    limits, best_cost = ax.get_xlim(), report["baselines"]["best_single"]["cost_per_1k"]
    for share in (0.5, 0.2):  # where the targets read the curves
        ax.axvline(share * best_cost, color="grey", linewidth=0.8, linestyle=":")
        ax.text(share * best_cost, 0.02, f" {share:.0%} of best single's cost", transform=ax.get_xaxis_transform(),
                rotation=90, fontsize=7, color="grey", ha="right", va="bottom")
    ax.set_xlim(limits)
    ax.set_xlabel("cost per 1,000 requests (USD)")
    ax.set_ylabel("quality (mean score on test prompts)")
    ax.set_title(f"{report['dataset']}: {report['n_test']} test prompts, evidence from {report['n_train']} train prompts")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: never over a point
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
