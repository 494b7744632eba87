"""When a cascade pays off, and when its cheap answer is good enough: learned from evaluations.

A plan calls a first model, and optionally a second one beside it, and reads what the checks say
of the first model's answer (was an answer extracted, did the response keep to the format, does
the second model agree). Each such pattern of verdicts has, on the train split, a share of prompts
and a rate at which the first model's answer was right. For one request under the user's weights
the policy compares, by the router's own utility (routing.engine.scoring.rank: quality against
dollars), calling the router's choice directly with each plan: the plan's calls cost what the
router expects, and for each pattern it either returns the first answer or escalates to the model
the router prefers once those calls are paid for. After the calls, the observed pattern decides.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from registry.models import EvaluationResult, Prompt
from routing.cascade.checks import CODE, AnswerFormat, agree, answer_format, complies, extract
from routing.engine.request import Candidate

PATTERNS = 16  # bit 0: first answer extracted, 1: first complies, 2: second extracted, 3: they agree
SMOOTHING = 2.0  # pseudo-prompts at the plan's overall rate behind each pattern's rate
MIN_PROMPTS = 20  # fewer train prompts of a format and task type: their plans come from the format alone


Reading = tuple[str | None, bool]  # a response's extracted answer, and whether it kept to the format


def reading(fmt: AnswerFormat | None, response: str) -> Reading:
    return extract(response, fmt), complies(response, fmt)


def pattern(first: Reading, second: Reading | None) -> int:
    """The checks' verdicts on the first model's response (and the second's) as one number."""
    bits = int(first[0] is not None) | int(first[1]) << 1
    if second is not None:
        bits |= int(second[0] is not None) << 2 | int(agree(first[0], second[0])) << 3
    return bits


def verdicts(bits: int, paired: bool, fmt: AnswerFormat) -> dict[str, bool]:
    """A pattern read back as what each check said (code has no answer to extract or agree on)."""
    if fmt.kind == CODE:
        return {"format_kept": bool(bits & 2)}
    out = {"extracted": bool(bits & 1), "format_kept": bool(bits & 2)}
    if paired:
        out["agreed"] = bool(bits & 8)
    return out


@dataclass
class Plan:
    first: int  # llm ids
    second: int | None
    models: list[int]  # the models whose record on the train prompts stands behind `right`
    share: np.ndarray  # (PATTERNS,) share of the train prompts showing each pattern
    right: np.ndarray  # (PATTERNS, len(models)) smoothed rate at which each model was right under it
    overall: np.ndarray  # (len(models),) each model's rate over the plan's train prompts
    n: int

    @property
    def calls(self) -> tuple[int, ...]:
        return (self.first,) if self.second is None else (self.first, self.second)


@dataclass
class TrainPrompt:
    fmt: AnswerFormat | None
    task_type: str
    scores: dict[int, float] = field(default_factory=dict)  # llm id -> score
    responses: dict[int, str] = field(default_factory=dict)


@dataclass
class Choice:
    """What the cascade does for one request under one set of weights."""

    plan: Plan | None  # None: call the router's choice directly
    direct: int  # the router's choice without a cascade
    # Per pattern: the model whose answer is returned (a called one, or the one escalated to).
    answer: list[int]


@dataclass
class CascadePolicy:
    plans: dict[tuple[str, ...], list[Plan]]

    def plans_for(self, fmt: AnswerFormat | None, task_type: str) -> list[Plan]:
        if fmt is None:
            return []
        return self.plans.get((fmt.name, task_type)) or self.plans.get((fmt.name,)) or \
            self.plans.get((fmt.kind,), [])

    def choose(self, fmt: AnswerFormat | None, task_type: str, candidates: list[Candidate],
               weights: np.ndarray) -> list[Choice]:
        """For each cost weight: the router's direct choice, or the plan of highest expected utility.

        Under a plan, each pattern's answer is the model whose answer is worth most once the plan's
        calls are paid for: a called model's (no further cost) or the one escalated to. A model's
        quality under a pattern is its train rate under that pattern, moved by how far the router's
        estimate for this request departs from the model's overall rate (the k-NN estimate check)."""
        ids = [c.llm.id for c in candidates]
        index = {llm_id: i for i, llm_id in enumerate(ids)}
        quality = np.array([c.quality for c in candidates])
        cost = np.array([c.cost_usd for c in candidates])
        # The same scale as routing.engine.scoring.rank: dollars against the priciest typical call.
        reference = max(c.typical_cost_usd for c in candidates) or 1.0
        w = weights[:, None]
        direct_value = (1 - w) * quality[None, :] - w * cost[None, :] / reference  # (W, M)
        best_direct = _best(direct_value, cost)
        direct = [ids[i] for i in best_direct]
        plans = [p for p in self.plans_for(fmt, task_type) if all(m in index for m in p.calls)]
        if not plans:
            return [Choice(None, d, []) for d in direct]
        called = np.zeros((len(plans), len(ids)), dtype=bool)
        expected = np.empty((len(plans), PATTERNS, len(ids)))
        for p, plan in enumerate(plans):
            called[p, [index[m] for m in plan.calls]] = True
            # A model without a record on the plan's prompts is expected at the router's estimate.
            expected[p] = quality
            known = [i for i, m in enumerate(ids) if m in plan.models]
            columns = [plan.models.index(ids[i]) for i in known]
            expected[p][:, known] = np.clip(plan.right[:, columns] + quality[known] - plan.overall[columns], 0.0, 1.0)
        extra = np.where(called, 0.0, cost[None, :])  # (P, M): what answering with each model adds
        value = (1 - w)[:, :, None, None] * expected[None] - (w[:, :, None, None] * extra[None, :, None, :] / reference)
        answer = value.argmax(axis=3)  # (W, P, PATTERNS)
        share = np.stack([plan.share for plan in plans])  # (P, PATTERNS)
        plan_cost = (called * cost[None, :]).sum(axis=1)  # (P,)
        plan_value = (share[None] * value.max(axis=3)).sum(axis=2) - w * plan_cost[None, :] / reference
        # A cascade checks cheaper answers before paying for the router's choice: each model it
        # calls first costs less than that choice.
        dearest_call = np.where(called, cost[None, :], 0.0).max(axis=1)  # (P,)
        plan_value = np.where(dearest_call[None, :] < cost[best_direct][:, None], plan_value, -np.inf)
        best = plan_value.argmax(axis=1)
        choices = []
        for k, p in enumerate(best.tolist()):
            if plan_value[k, p] <= direct_value[k].max():
                choices.append(Choice(None, direct[k], []))
            else:
                choices.append(Choice(plans[p], direct[k], [ids[int(m)] for m in answer[k, p]]))
        return choices


def _best(values: np.ndarray, cost: np.ndarray) -> list[int]:
    """Per row, the column of highest value; ties to the cheaper (as rank breaks them)."""
    top = values.max(axis=1, keepdims=True)
    tied = np.where(values >= top - 1e-12, cost[None, :], np.inf)
    return tied.argmin(axis=1).tolist()


def policy_learn(*, dataset_ids: tuple[int, ...], split: str = "train") -> CascadePolicy:
    """The policy learned from these datasets' train responses and scores. Routing never learns
    from a test split's; evaluate_router does, for a reference only (routing.evaluation.cascade)."""
    prompts = {p.id: TrainPrompt(answer_format(p.text), p.task_type) for p in Prompt.objects.filter(
        dataset_id__in=dataset_ids, split=split).only("id", "text", "task_type")}
    for prompt_id, llm_id, score, response in EvaluationResult.objects.accuracy().filter(
            prompt__dataset_id__in=dataset_ids, prompt__split=split).values_list(
            "prompt_id", "llm_id", "score", "response"):
        prompts[prompt_id].scores[llm_id] = score
        prompts[prompt_id].responses[llm_id] = response
    return policy_fit(prompts.values())


def policy_fit(prompts: Iterable[TrainPrompt]) -> CascadePolicy:
    """Each plan's patterns and their success rates, per answer format and task type, per
    format, and per kind of format, from the train split's responses and scores."""
    groups: dict[tuple[str, ...], list[TrainPrompt]] = defaultdict(list)
    for prompt in prompts:
        if prompt.fmt is None:
            continue
        groups[(prompt.fmt.name, prompt.task_type)].append(prompt)
        groups[(prompt.fmt.name,)].append(prompt)
        groups[(prompt.fmt.kind,)].append(prompt)
    return CascadePolicy({key: _plans(group) for key, group in groups.items() if len(group) >= MIN_PROMPTS})


def _plans(group: list[TrainPrompt]) -> list[Plan]:
    models = sorted({m for p in group for m in p.scores})
    # The plans are weighed on the prompts every model answered, so that their rates compare.
    complete = [p for p in group if all(m in p.scores for m in models)]
    if len(complete) < MIN_PROMPTS:
        return []
    scores = np.array([[p.scores[m] for m in models] for p in complete])  # (prompts, models)
    overall = scores.mean(axis=0)
    readings = [[reading(p.fmt, p.responses.get(m, "")) for m in models] for p in complete]
    plans = []
    for i, first in enumerate(models):
        for j, second in [(None, None), *enumerate(models)]:
            if second == first:
                continue
            bits = np.array([pattern(r[i], None if j is None else r[j]) for r in readings])
            counts = np.bincount(bits, minlength=PATTERNS).astype(float)
            rights = np.stack([scores[bits == b].sum(axis=0) for b in range(PATTERNS)])  # (PATTERNS, models)
            right = (rights + SMOOTHING * overall) / (counts[:, None] + SMOOTHING)
            plans.append(Plan(first, second, models, counts / len(complete), right, overall, len(complete)))
    return plans
