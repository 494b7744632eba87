"""Server-side SVG geometry for the console's charts: no script, colours from CSS variables."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

SERIES = 8  # --series-1 .. --series-8 in the stylesheet; more models reuse them in turn
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 220, 40, 24, 10


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: int
    label: str


@dataclass
class StackedBars:
    bars: list[Bar]
    ticks: list[tuple[float, int]]  # (y, value) of the horizontal grid lines
    days: list[tuple[float, str]]  # (x, label) under each bar
    legend: list[tuple[int, str]]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    baseline: float = HEIGHT - BOTTOM


def stacked_bars(per_series: dict[str, dict[dt.date, int]], days: list[dt.date]) -> StackedBars:
    """One bar a day, stacked by series (a model), scaled to the busiest day."""
    totals = [sum(counts.get(day, 0) for counts in per_series.values()) for day in days]
    top = _nice_ceiling(max(totals, default=0))
    plot_h, slot = HEIGHT - BOTTOM - TOP, (WIDTH - LEFT) / max(len(days), 1)
    bars = []
    for i, day in enumerate(days):
        y = float(HEIGHT - BOTTOM)
        for s, (name, counts) in enumerate(per_series.items()):
            n = counts.get(day, 0)
            if n:
                h = plot_h * n / top
                y -= h
                bars.append(Bar(LEFT + i * slot + slot * 0.15, y, slot * 0.7, h, s % SERIES + 1,
                                f"{name}: {n} on {day:%b %d}"))
    ticks = [(HEIGHT - BOTTOM - plot_h * k / 4, top * k // 4) for k in range(5)]
    every = max(1, len(days) // 10)
    labels = [(LEFT + i * slot + slot / 2, f"{day:%b %d}") for i, day in enumerate(days) if i % every == 0]
    legend = [(s % SERIES + 1, name) for s, name in enumerate(per_series)]
    return StackedBars(bars, ticks, labels, legend)


def _nice_ceiling(value: int) -> int:
    for step in (4, 8, 20, 40, 100, 200, 400, 1000, 2000, 4000, 10_000):
        if value <= step:
            return step
    return (value // 10_000 + 1) * 10_000


# The quality-versus-cost chart of evaluate_router's reports: cost on a log axis (calls span orders
# of magnitude), quality on a linear one; strategies as curves, models and baselines as marks.
P_WIDTH, P_HEIGHT, P_LEFT, P_RIGHT, P_TOP, P_BOTTOM = 720, 360, 52, 16, 12, 40
BASELINES = {"best_single": ("best single model", "diamond"), "oracle": ("oracle", "square"),
             "random": ("random", "triangle"), "cheapest": ("cheapest model", "triangle-down")}


@dataclass
class Mark:
    x: float
    y: float
    kind: str  # model, baseline, profile: styled by the stylesheet
    shape: str  # dot, diamond, square, triangle, triangle-down, ring
    label: str  # drawn beside the mark ("" for none)
    title: str  # the hover text: name, quality, cost
    polygon: str = ""  # the shape's outline when it is not a circle
    label_dy: int = 4  # the label's offset from the mark's centre, down


@dataclass
class Curve:
    points: str  # "x,y x,y ..." for <polyline>
    series: int  # the strategy's colour, the same in every report
    label: str
    dashed: bool = False  # the second report of a comparison


@dataclass
class ParetoChart:
    curves: list[Curve]
    marks: list[Mark]
    x_ticks: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    width: int = P_WIDTH
    height: int = P_HEIGHT
    left: int = P_LEFT
    right: int = P_WIDTH - P_RIGHT
    top: int = P_TOP
    baseline: int = P_HEIGHT - P_BOTTOM
    has_profile: bool = False


def pareto_chart(reports: list[tuple[str, dict[str, Any]]], *, profile: dict[str, Any] | None = None,
                 width: int = P_WIDTH) -> ParetoChart:
    """One chart of one or more reports (each with a prefix for its curves' names), and a profile's point;
    a narrower `width` for a narrower card keeps the text the same size on screen."""
    points = [(p["cost_per_1k"], p["quality"]) for _, r in reports for s in r["strategies"].values() for p in s["points"]]
    for _, report in reports:
        base = report["baselines"]
        points += [(o["cost_per_1k"], o["quality"]) for o in base["single_models"].values()]
        points += [(base[key]["cost_per_1k"], base[key]["quality"]) for key in BASELINES if key in base]
    if profile:
        points.append((profile["cost_per_1k"], profile["quality"]))
    x, x_ticks = _log_axis([c for c, _ in points], P_LEFT, width - P_RIGHT)
    y, y_ticks = _linear_axis([q for _, q in points], P_HEIGHT - P_BOTTOM, P_TOP)
    curves: list[Curve] = []
    marks: list[Mark] = []
    names = sorted({name for _, report in reports for name in report["strategies"]})
    for n, (prefix, report) in enumerate(reports):
        for name, strategy in sorted(report["strategies"].items()):
            line = " ".join(f"{x(p['cost_per_1k']):.1f},{y(p['quality']):.1f}" for p in strategy["points"])
            curves.append(Curve(line, names.index(name) % SERIES + 1, f"{prefix}{name} (AIQ {strategy['aiq']:.3f})",
                                dashed=n > 0))
    base = reports[0][1]["baselines"] if reports else {"single_models": {}}
    for name, o in base["single_models"].items():
        marks.append(_mark(x(o["cost_per_1k"]), y(o["quality"]), "model", "dot", name.split("/")[-1], name, o))
    for key, (label, shape) in BASELINES.items():
        if key in base:
            o = base[key]
            named = f"{label}: {o['model']}" if o.get("model") else label
            marks.append(_mark(x(o["cost_per_1k"]), y(o["quality"]), "baseline", shape,
                               label if key in ("oracle", "random") else "", named, o))
    if profile:
        point = _mark(x(profile["cost_per_1k"]), y(profile["quality"]), "profile", "ring", "this profile",
                      "this profile", profile)
        point.label_dy = -14  # above the ring, clear of the axis labels and the curve it sits on
        marks.append(point)
    return ParetoChart(curves, marks, x_ticks, y_ticks, width=width, right=width - P_RIGHT,
                       has_profile=profile is not None)


def _mark(x: float, y: float, kind: str, shape: str, label: str, name: str, o: dict[str, Any]) -> Mark:
    r = 6.0
    outline = {"diamond": [(0, -r - 1), (r + 1, 0), (0, r + 1), (-r - 1, 0)],
               "square": [(-r + 1, -r + 1), (r - 1, -r + 1), (r - 1, r - 1), (-r + 1, r - 1)],
               "triangle": [(0, -r), (r, r - 1), (-r, r - 1)], "triangle-down": [(0, r), (r, -r + 1), (-r, -r + 1)]}
    polygon = " ".join(f"{x + dx:.1f},{y + dy:.1f}" for dx, dy in outline.get(shape, []))
    title = f"{name}: quality {o['quality']:.3f}, ${o['cost_per_1k']:.4g} per 1,000 requests"
    return Mark(x, y, kind, shape, label, title, polygon)


def _log_axis(values: list[float], low: float, high: float) -> tuple[Any, list[tuple[float, str]]]:
    positive = [v for v in values if v > 0] or [1.0]
    lo, hi = min(positive) / 1.4, max(positive) * 1.4
    if hi / lo < 10:  # at least one decade, so the ticks mean something
        mid = math.sqrt(lo * hi)
        lo, hi = mid / math.sqrt(10), mid * math.sqrt(10)
    span = math.log10(hi) - math.log10(lo)

    def at(value: float) -> float:
        return low + (high - low) * (math.log10(max(value, lo)) - math.log10(lo)) / span

    ticks = []
    for exponent in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for step in (1, 2, 5) if span < 3 else (1,):
            value = step * 10.0 ** exponent
            if lo <= value <= hi:
                ticks.append((at(value), _money_tick(value)))
    return at, ticks


def _money_tick(value: float) -> str:
    return f"${value:,.0f}" if value >= 1 else f"${value:.{max(0, -math.floor(math.log10(value)))}f}"


def _linear_axis(values: list[float], low: float, high: float) -> tuple[Any, list[tuple[float, str]]]:
    lo, hi = min(values, default=0.0), max(values, default=1.0)
    step = next(s for s in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 10.0) if (hi - lo) / s <= 6)
    # A step of room under the lowest point, so no mark sits on the cost axis's labels.
    lo, hi = max(0.0, math.floor(lo / step - 0.3) * step), math.ceil(hi / step) * step
    if hi - lo < step:
        lo, hi = lo - step, hi + step

    def at(value: float) -> float:
        return low + (high - low) * (value - lo) / (hi - lo)

    count = round((hi - lo) / step)
    return at, [(at(lo + k * step), f"{lo + k * step:.2f}") for k in range(count + 1)]
