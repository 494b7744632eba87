"""An in-process, read-mostly view of the registry that routing decisions need on every call.

Loading models, profiles and evaluation results per request would cost several queries;
the snapshot keeps them in memory and reloads when the registry changes (checked at most
every REFRESH_SECONDS), so a decision costs one nearest-neighbour query.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from django.db.models import Count, Max

from registry.models import LLM, Dataset, EvaluationResult, ModelProfile

REFRESH_SECONDS = 30.0


@dataclass
class Prior:
    quality: float
    n: int
    source: str


@dataclass
class Snapshot:
    generation: tuple[object, ...]
    models: dict[int, LLM]
    # (llm_id, dataset_id or None for all, task_type or "") -> Prior
    priors: dict[tuple[int, int | None, str], Prior]
    dataset_models: dict[int, set[int]]
    mean_cost: dict[tuple[int, int | None], float]
    # (llm_id, dataset_id or None) -> the model's embedding (registry.services._model_embeddings)
    model_vectors: dict[tuple[int, int | None], np.ndarray] = field(default_factory=dict)
    results: dict[int, dict[int, tuple[float, float]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def evidence(self, prompt_ids: list[int]) -> dict[int, dict[int, tuple[float, float]]]:
        """Score and cost per model for each prompt, loaded once per prompt and kept."""
        missing = [pid for pid in prompt_ids if pid not in self.results]
        if missing:
            loaded: dict[int, dict[int, tuple[float, float]]] = defaultdict(dict)
            for prompt_id, llm_id, score, cost in EvaluationResult.objects.filter(prompt_id__in=missing).values_list(
                    "prompt_id", "llm_id", "score", "cost_usd"):
                loaded[prompt_id][llm_id] = (score, cost)
            with self.lock:
                for pid in missing:
                    self.results[pid] = loaded.get(pid, {})
        return {pid: self.results[pid] for pid in prompt_ids}


def _generation() -> tuple[object, ...]:
    datasets = Dataset.objects.aggregate(n=Count("id"), changed=Max("updated_at"))
    models = LLM.objects.aggregate(n=Count("id"), changed=Max("updated_at"))
    return (datasets["n"], datasets["changed"], models["n"], models["changed"])


def _load(generation: tuple[object, ...]) -> Snapshot:
    models = {m.id: m for m in LLM.objects.select_related("provider")}
    priors: dict[tuple[int, int | None, str], Prior] = {}
    dataset_models: dict[int, set[int]] = defaultdict(set)
    mean_cost: dict[tuple[int, int | None], float] = {}
    pooled: dict[tuple[int, str], list[tuple[float, int]]] = defaultdict(list)
    vectors: dict[tuple[int, int | None], np.ndarray] = {}
    for profile in ModelProfile.objects.filter(domain=""):
        if profile.embedding is not None:
            vectors[(profile.llm_id, profile.dataset_id)] = np.asarray(profile.embedding, dtype=np.float32)
        priors[(profile.llm_id, profile.dataset_id, profile.task_type)] = Prior(profile.mean_score, profile.n,
                                                                                "evaluations")
        pooled[(profile.llm_id, profile.task_type)].append((profile.mean_score, profile.n))
        if profile.task_type == "":
            dataset_models[profile.dataset_id].add(profile.llm_id)
            mean_cost[(profile.llm_id, profile.dataset_id)] = profile.mean_cost_usd
    for (llm_id, task_type), items in pooled.items():
        total = sum(n for _, n in items)
        priors[(llm_id, None, task_type)] = Prior(sum(q * n for q, n in items) / total, total, "evaluations")
    for llm in models.values():
        _benchmark_priors(llm, priors)
    for llm_id, _ds in list(vectors):
        same = [v for (other, _), v in vectors.items() if other == llm_id]
        vectors[(llm_id, None)] = np.mean(same, axis=0)
    return Snapshot(generation, models, priors, dict(dataset_models), mean_cost, vectors)


def _benchmark_priors(llm: LLM, priors: dict[tuple[int, int | None, str], Prior]) -> None:
    """Published benchmark figures stand in where no evaluation results exist."""
    by_task: dict[str, list[float]] = defaultdict(list)
    for bench in llm.benchmarks or []:
        by_task[bench.get("task_type", "")].append(float(bench["score"]))
        by_task[""].append(float(bench["score"]))
    for task_type, scores in by_task.items():
        priors.setdefault((llm.id, None, task_type), Prior(sum(scores) / len(scores), 0, "benchmarks"))


class SnapshotCache:
    def __init__(self) -> None:
        self._snapshot: Snapshot | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def get(self) -> Snapshot:
        now = time.monotonic()
        if self._snapshot is not None and now - self._checked < REFRESH_SECONDS:
            return self._snapshot
        with self._lock:
            generation = _generation()
            if self._snapshot is None or self._snapshot.generation != generation:
                self._snapshot = _load(generation)
            self._checked = now
            return self._snapshot

    def clear(self) -> None:
        with self._lock:
            self._snapshot = None


snapshots = SnapshotCache()
