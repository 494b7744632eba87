"""Priors from published benchmark figures, for models without evaluation results.

Benchmarks differ in difficulty (GPQA Diamond is far harder than GSM8K), so a raw figure says
nothing next to another benchmark's figure. Figures are compared only within a benchmark: each
becomes a z-score among the models that report the same benchmark (the same name, a
parenthesised note such as the setting or release aside); a model's standing on a task type is
the mean of its z-scores on that task type's benchmarks, and its overall standing the mean of
all of them. Standings are put on the scale of a typical benchmark of the registry (the mean
of the benchmarks' means, and of their spreads), so that they read as scores.

A model without a comparable figure for a task type gets an estimate from its overall
standing, pulled halfway to the mean, lowered by half a spread for the uncertainty, and never
above the average of the models measured on that task type: it does not outrank, by default,
a model measured above average on it.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from statistics import fmean, pstdev

from registry.models import LLM

COMPARABLE = 3  # reporters a benchmark needs before its figures rank models (with 2, every z is +-1)
ESTIMATE_SHRINK = 0.5
ESTIMATE_MARGIN = 0.5  # in spreads
_NOTE = re.compile(r"\s*\([^)]*\)\s*$")


@dataclass(frozen=True)
class Figure:
    llm_id: int
    benchmark: str  # the published name without its parenthesised note, e.g. "GPQA Diamond"
    task_type: str
    score: float

    @property
    def key(self) -> tuple[str, str]:
        return self.benchmark.casefold(), self.task_type


@dataclass(frozen=True)
class Reporters:
    """The models that report one benchmark: how many, their mean figure and its spread."""

    n: int
    mean: float
    spread: float


@dataclass(frozen=True)
class BenchmarkPrior:
    quality: float
    source: str  # for people: which benchmarks, or why it is an estimate
    measured: bool  # False: estimated from the model's standing on other benchmarks


def figures_of(llm: LLM) -> list[Figure]:
    """The model's usable figures; malformed entries (hand-edited JSON) are left out."""
    figures = []
    for bench in llm.benchmarks if isinstance(llm.benchmarks, list) else []:
        if not isinstance(bench, dict):
            continue
        name, score, task_type = bench.get("name"), bench.get("score"), bench.get("task_type") or ""
        if (isinstance(name, str) and name.strip() and isinstance(task_type, str)
                and isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score)):
            figures.append(Figure(llm.id, _NOTE.sub("", name).strip() or name, task_type, float(score)))
    return figures


def benchmark_priors(figures: list[Figure]) -> dict[tuple[int, str], BenchmarkPrior]:
    """Each model's prior per task type ("" for overall), for the task types some benchmark compares."""
    reporters = _reporters(figures)
    by_model: dict[int, list[Figure]] = defaultdict(list)
    for figure in figures:
        by_model[figure.llm_id].append(figure)
    if not reporters:
        return {(llm_id, task_type): prior for llm_id, own in by_model.items()
                for task_type, prior in _uncompared(own).items()}
    centre = fmean(r.mean for r in reporters.values())
    spread = fmean(r.spread for r in reporters.values())

    def on_scale(z: float) -> float:
        return min(1.0, max(0.0, centre + spread * z))

    task_types = sorted({task_type for _, task_type in reporters} - {""})
    priors = {}
    for llm_id, own in by_model.items():
        z = {f: _z(f, reporters[f.key]) for f in own if f.key in reporters}
        standing = fmean(z.values()) if z else 0.0
        # The models measured on a benchmark average a z of 0 there, so 0 is their average.
        estimate = on_scale(min(0.0, ESTIMATE_SHRINK * standing - ESTIMATE_MARGIN))
        for task_type in ["", *task_types]:
            measured = [f for f in z if task_type in ("", f.task_type)]
            if measured:
                quality = on_scale(fmean(z[f] for f in measured))
                priors[(llm_id, task_type)] = BenchmarkPrior(quality, _measured(measured, reporters), True)
            else:
                priors[(llm_id, task_type)] = BenchmarkPrior(estimate, _estimated(task_type, own, bool(z)), False)
    return priors


def _reporters(figures: list[Figure]) -> dict[tuple[str, str], Reporters]:
    """The benchmarks enough models report to compare them on."""
    scores: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for figure in figures:
        scores[figure.key][figure.llm_id] = figure.score  # a model's repeated figure counts once
    return {key: Reporters(len(by_model), fmean(by_model.values()), pstdev(by_model.values()))
            for key, by_model in scores.items() if len(by_model) >= COMPARABLE}


def _z(figure: Figure, reporters: Reporters) -> float:
    return (figure.score - reporters.mean) / reporters.spread if reporters.spread else 0.0


def _uncompared(own: list[Figure]) -> dict[str, BenchmarkPrior]:
    """No benchmark is reported by enough models to compare them: the model's raw figures."""
    by_task: dict[str, list[Figure]] = defaultdict(list)
    for figure in own:
        by_task[figure.task_type].append(figure)
        if figure.task_type:
            by_task[""].append(figure)
    return {task_type: BenchmarkPrior(fmean(f.score for f in found), f"published benchmarks ({_names(found)}; "
                                      "too few models report them to compare)", True)
            for task_type, found in by_task.items()}


def _measured(figures: list[Figure], reporters: dict[tuple[str, str], Reporters]) -> str:
    counts = sorted({reporters[f.key].n for f in figures})
    if len(figures) == 1:
        return f"published benchmarks ({figures[0].benchmark}, normalised across {counts[0]} models)"
    across = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    return f"published benchmarks ({_names(figures)}; each normalised across the {across} models that report it)"


def _estimated(task_type: str, own: list[Figure], compared: bool) -> str:
    if not compared:
        return f"estimated: none of its benchmarks ({_names(own)}) is reported by enough models to compare"
    uncompared = [f for f in own if f.task_type == task_type]
    if uncompared:
        return f"estimated from other benchmarks ({_names(uncompared)}: too few models report it to compare)"
    return f"estimated from other benchmarks (no {task_type} benchmark)"


def _names(figures: list[Figure], shown: int = 3) -> str:
    names = list(dict.fromkeys(f.benchmark for f in figures))
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
