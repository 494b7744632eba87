"""Server-side SVG geometry for the overview's charts: no script, colours from CSS variables."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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
