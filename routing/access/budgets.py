"""What cohorts spend: each answered call's cost and saving, and the monthly budget left."""

from __future__ import annotations

from optiroute.api_errors import OptiRouteError
from registry.models import LLM
from routing.models import ApiKey, Cohort, Decision, Usage


def budget_left(cohort: Cohort) -> float | None:
    """USD left this month (None: no budget); a 429 error once it is spent."""
    if cohort.monthly_budget_usd is None:
        return None
    left = float(cohort.monthly_budget_usd) - Usage.objects.filter(cohort=cohort).this_month().spent_usd()
    if left <= 0:
        raise OptiRouteError(f"the monthly budget of ${cohort.monthly_budget_usd} for cohort {cohort.name} is spent; "
                             "it renews on the 1st or an admin can raise it", status=429, code="budget_exhausted")
    return left


def _cost(llm: LLM, input_tokens: int, output_tokens: int) -> float:
    return llm.estimated_cost_usd(input_tokens, output_tokens) or 0.0


def usage_build(*, decision: Decision, api_key: ApiKey, llm: LLM, input_tokens: int, output_tokens: int) -> Usage:
    """The accounting of one answered call, at the price of the model that answered; stored with
    its decision by the recorder."""
    cohort = api_key.cohort
    cost = _cost(llm, input_tokens, output_tokens)
    baseline = cohort.baseline_model
    baseline_cost = _cost(baseline, input_tokens, output_tokens) if baseline else None
    # One row per decision (a unique key): a call can never be accounted twice.
    return Usage(
        decision=decision, api_key=api_key, cohort=cohort, llm=llm, input_tokens=input_tokens,
        output_tokens=output_tokens, cost_usd=cost, baseline_cost_usd=baseline_cost,
        saving_usd=None if baseline_cost is None else baseline_cost - cost)
