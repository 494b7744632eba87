"""What the engine works on: a request with its analysis and constraints, the candidates it
weighs, and the estimates a strategy gives them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from optiroute.api_errors import OptiRouteError
from registry.models import LLM
from registry.tokens import DEFAULT_OUTPUT_TOKENS
from routing.engine.constraints import Constraints

if TYPE_CHECKING:
    from routing.engine.snapshot import Snapshot

NEIGHBOURS_RECORDED = 10  # the closest, kept with a decision to explain it


class RoutingError(OptiRouteError):
    status = 422
    code = "no_model_fits"


@dataclass
class Request:
    text: str
    vector: np.ndarray
    tokens: int
    task_type: str
    task_confidence: float
    domain: str
    domain_confidence: float
    constraints: Constraints = field(default_factory=Constraints)
    pool: frozenset[int] | None = None  # the cohort's model pool, None for all
    dataset_ids: tuple[int, ...] | None = None  # evidence scope, None for every dataset
    # Where the nearest evidence is searched when dataset_ids is None: every dataset (None) but
    # other cohorts' own field evidence (Snapshot.visible_datasets).
    searched_ids: tuple[int, ...] | None = None
    # The cohort's own field evidence (feedback it keeps to itself), read beside every dataset's
    # pooled record when dataset_ids is None (routing.engine.strategies.evidence_scopes).
    own_field_ids: tuple[int, ...] = ()
    output_tokens: int = DEFAULT_OUTPUT_TOKENS
    unavailable: frozenset[int] = frozenset()  # e.g. circuit breaker open
    # The neighbours' recorded (scores, costs) for some models, looked up once per search: the
    # strategy's estimate and the cost medians read the same one. Keyed by the neighbours as
    # well as the models, because one request may be searched again (the evaluation harness
    # estimates it once per strategy) and another search may return other, or fewer, neighbours.
    _neighbourhood: tuple[tuple[int, ...], tuple[int, ...], np.ndarray, np.ndarray] | None = \
        field(default=None, repr=False)

    def neighbourhood(self, snapshot: Snapshot, neighbours: list[tuple[int, float]],
                      models: list[LLM]) -> tuple[np.ndarray, np.ndarray]:
        """Scores and costs (len(neighbours), len(models)) of these models on these neighbours."""
        prompt_ids = tuple(pid for pid, _ in neighbours)
        llm_ids = tuple(m.id for m in models)
        cached = self._neighbourhood
        if cached is None or cached[0] != prompt_ids or cached[1] != llm_ids:
            scores, costs = snapshot.evidence.neighbourhood(list(prompt_ids), list(llm_ids))
            cached = self._neighbourhood = (prompt_ids, llm_ids, scores, costs)
        return cached[2], cached[3]


@dataclass
class Candidate:
    llm: LLM
    quality: float
    confidence: float
    evidence_n: int
    prior: float
    prior_source: str
    cost_usd: float
    typical_cost_usd: float
    latency_ms: float
    declared: dict[str, float]
    scores: dict[str, float] = field(default_factory=dict)
    utility: float = 0.0
    # What feedback contributed: rated answers of this model among the neighbours, and among the
    # results behind its prior.
    feedback_n: int = 0
    feedback_prior_n: int = 0
    latency_source: str = ""  # observed traffic or the declared figures (routing.engine.costs)
    # Per non-accuracy dimension with evaluations in scope, where its figure came from:
    # {"source": "evidence", "datasets": [...], "n": similar prompts} or {"source": "model-level"}.
    dimension_sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The estimate from the evaluations alone (no feedback): what a rating of this choice is
    # compared with when it corrects the model's record (Snapshot._lookup_prior).
    evaluated_quality: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.llm.name, "utility": round(self.utility, 4),
                "scores": {k: round(v, 4) for k, v in self.scores.items()},
                "expected_quality": round(self.quality, 4), "quality_confidence": round(self.confidence, 3),
                "evidence_n": self.evidence_n, "prior": round(self.prior, 4), "prior_source": self.prior_source,
                "expected_cost_usd": self.cost_usd, "expected_latency_ms": round(self.latency_ms, 1),
                "latency_source": self.latency_source,
                "feedback_n": self.feedback_n, "feedback_prior_n": self.feedback_prior_n,
                "evaluated_quality": None if self.evaluated_quality is None else round(self.evaluated_quality, 4),
                **({"dimension_sources": self.dimension_sources} if self.dimension_sources else {})}


@dataclass
class Estimates:
    candidates: list[Candidate]
    excluded: dict[str, str]
    filters: list[str]
    neighbours: list[dict[str, Any]]  # the NEIGHBOURS_RECORDED closest
    fallback_reason: str = ""
    # Meet every hard constraint but not the task filter: fallbacks of last resort.
    reserve: list[Candidate] = field(default_factory=list)


class Strategy(Protocol):
    name: str

    def quality(self, request: Request, models: list[LLM], snapshot: Snapshot,
                neighbours: list[tuple[int, float]]) -> dict[int, tuple[float, float, int]]:
        """Expected quality, confidence and evidence count per model id."""
        ...
