"""Cascades replayed from the responses a dataset recorded: evaluate_router's `cascade` strategy.

The policy is fitted on the train split's responses and scores. For each test prompt and cost
weight the cascade decides from the query text and the router's estimates which model to call
first; a call reads that model's recorded response and cost for the prompt, and only then may the
cascade read it, to decide whether to return it or call on. A test score is read only after every
decision is made, to score the answer each cascade returned; its cost is the sum of its calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from registry.models import Dataset, EvaluationResult, Prompt
from routing.cascade.checks import answer_format
from routing.cascade.policy import CascadePolicy, Reading, pattern, policy_learn, reading
from routing.engine.request import Estimates, Request

CASCADE = "cascade"
# The cost weights swept, as the harness sweeps the other strategies: dense near 0, where most
# trade-offs happen when costs span two orders of magnitude.
WEIGHTS = np.unique(np.r_[np.linspace(0.0, 1.0, 101), np.geomspace(1e-4, 0.3, 300)])


def unavailable_reason(dataset: Dataset) -> str | None:
    """Why the dataset's cascades cannot be replayed (None when they can)."""
    results = EvaluationResult.objects.accuracy().filter(prompt__dataset=dataset).exclude(response="")
    for split in ("train", "test"):
        if not results.filter(prompt__split=split).exists():
            return f"the {split} split's results carry no responses, so no cascade can be replayed"
    return None


@dataclass
class Recorded:
    """The recorded calls of the test split: a call returns a response and its cost, nothing else."""

    dataset: Dataset
    _calls: dict[int, dict[int, tuple[str, float]]] = field(default_factory=dict)

    def call(self, prompt_id: int, llm_id: int) -> tuple[str, float]:
        if prompt_id not in self._calls:
            self._calls[prompt_id] = {
                llm: (response, cost) for llm, response, cost in EvaluationResult.objects.accuracy().filter(
                    prompt_id=prompt_id).values_list("llm_id", "response", "cost_usd")}
        return self._calls[prompt_id][llm_id]


@dataclass
class Replayed:
    calls: list[int]  # llm ids called, in order
    returned: int  # the llm id whose answer the cascade returned
    cost_usd: float  # the sum of the calls' recorded costs
    escalated: bool = False


def cascade_replay(*, dataset: Dataset, prompts: Sequence[Prompt], requests: Sequence[Request],
                   estimates: Sequence[Estimates], weights: np.ndarray = WEIGHTS,
                   fitted_on: str = "train") -> list[tuple[float, dict[int, Replayed]]]:
    """Per cost weight, each test prompt's cascade: the calls it made and the answer it returned.

    `fitted_on="test"` learns the policy from the test split's own responses and scores: not a
    strategy but a reference, read as the oracle is, of what a better-informed policy of this
    kind could add here."""
    policy = policy_learn(dataset_ids=(dataset.id,), split=fitted_on)
    recorded = Recorded(dataset)
    sweep: list[dict[int, Replayed]] = [{} for _ in weights]
    for prompt, request, estimate in zip(prompts, requests, estimates, strict=True):
        for k, replayed in enumerate(_replay_prompt(policy, recorded, prompt.id, request, estimate, weights)):
            sweep[k][prompt.id] = replayed
    return [(float(w), decisions) for w, decisions in zip(weights.tolist(), sweep, strict=True)]


def _replay_prompt(policy: CascadePolicy, recorded: Recorded, prompt_id: int, request: Request,
                   estimate: Estimates, weights: np.ndarray) -> list[Replayed]:
    fmt = answer_format(request.text)
    readings: dict[int, Reading] = {}

    def read(llm_id: int) -> Reading:
        if llm_id not in readings:
            readings[llm_id] = reading(fmt, recorded.call(prompt_id, llm_id)[0])
        return readings[llm_id]

    out = []
    for choice in policy.choose(fmt, request.task_type, estimate.candidates, weights):
        if choice.plan is None:
            out.append(Replayed([choice.direct], choice.direct, recorded.call(prompt_id, choice.direct)[1]))
            continue
        plan = choice.plan
        answer = choice.answer[pattern(read(plan.first), None if plan.second is None else read(plan.second))]
        calls = [*plan.calls, *([] if answer in plan.calls else [answer])]
        out.append(Replayed(calls, answer, sum(recorded.call(prompt_id, m)[1] for m in calls),
                            answer not in plan.calls))
    return out
