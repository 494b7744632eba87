"""Reading evaluate_router's reports for people: a profile's place beside the best single model,
and two reports side by side."""

from __future__ import annotations

from typing import Any

from registry.templatetags.units import money

BASELINE_NAMES = {"best_single": "Best single model", "oracle": "Oracle (best model per prompt)",
                  "random": "Random model", "cheapest": "Cheapest model"}


def per_1k(outcome: dict[str, Any]) -> str:
    return f"{outcome['quality']:.3f} at {money(outcome['cost_per_1k'])}"


def profile_summary(report: dict[str, Any]) -> dict[str, Any] | None:
    """Where the profile lands against the best single model: its quality and cost as shares of that model's."""
    point, best = report.get("profile"), report["baselines"]["best_single"]
    if not point:
        return None
    return {"quality": point["quality"], "cost_per_1k": point["cost_per_1k"], "best": best,
            "quality_share": point["quality"] / best["quality"] if best["quality"] else None,
            "cost_share": point["cost_per_1k"] / best["cost_per_1k"] if best["cost_per_1k"] else None}


def report_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The baselines of one report, each as (what, 'quality at cost per 1,000 requests')."""
    base = report["baselines"]
    rows = [(BASELINE_NAMES[key] + (f": {base[key]['model']}" if base[key].get("model") else ""), per_1k(base[key]))
            for key in BASELINE_NAMES if key in base]
    return rows


def comparison_rows(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(what, report a, report b): the data, each strategy's AIQ, and the baselines."""
    rows = [("Dataset", a["dataset"], b["dataset"]),
            ("Prompts (train / test)", f"{a['n_train']} / {a['n_test']}", f"{b['n_train']} / {b['n_test']}")]
    for name in sorted(set(a["strategies"]) | set(b["strategies"])):
        rows.append((f"AIQ, {name}", _aiq(a, name), _aiq(b, name)))
        rows.append((f"Quality kept at half the best model's cost, {name}", _kept(a, name), _kept(b, name)))
    for key, label in BASELINE_NAMES.items():
        rows.append((label, _baseline(a, key), _baseline(b, key)))
    return rows


def _aiq(report: dict[str, Any], name: str) -> str:
    strategy = report["strategies"].get(name)
    return f"{strategy['aiq']:.3f}" if strategy else "not evaluated"


def _kept(report: dict[str, Any], name: str) -> str:
    ratio = report.get("targets", {}).get(name, {}).get("quality_ratio_at_50pct_cost")
    return "–" if ratio is None else f"{ratio:.0%}"


def _baseline(report: dict[str, Any], key: str) -> str:
    outcome = report["baselines"].get(key)
    if not outcome:
        return "–"
    return (f"{outcome['model']}: " if outcome.get("model") else "") + per_1k(outcome)


def strategy_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each strategy of a report: its AIQ and the quality it keeps at half and a fifth of the best model's cost."""
    targets = report.get("targets", {})
    return [{"name": name, "aiq": data["aiq"], "points": len(data["points"]),
             "default": name == report.get("default_strategy"),
             "kept_50": targets.get(name, {}).get("quality_ratio_at_50pct_cost"),
             "kept_20": targets.get(name, {}).get("quality_ratio_at_20pct_cost")}
            for name, data in sorted(report["strategies"].items(), key=lambda kv: -kv[1]["aiq"])]
