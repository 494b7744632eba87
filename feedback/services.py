"""Feedback workflows: recording a rating, and folding ratings into the registry's evidence."""

from __future__ import annotations

import uuid
from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from feedback.models import Feedback
from optiroute.api_errors import OptiRouteError
from registry.services import FieldOutcome, field_evidence_record
from routing.models import ApiKey, Decision

EVIDENCE_DATASET = "field-feedback"


def get_decision_for_key(api_key: ApiKey, decision_id: uuid.UUID) -> Decision:
    """A decision made for the key's cohort; any other is "not found", not "forbidden"."""
    decision = Decision.objects.filter(pk=decision_id, cohort=api_key.cohort).first()
    if decision is None:
        raise OptiRouteError(f"no decision {decision_id} for this key's cohort (decisions are stored within "
                             "a second of the answer)", status=404, code="decision_not_found")
    return decision


def feedback_record(*, api_key: ApiKey, decision_id: uuid.UUID, rating: int, comment: str = "") -> Feedback:
    """Record (or change) this key's rating of an answered call."""
    decision = get_decision_for_key(api_key, decision_id)
    if decision.answered_by_id is None:
        raise OptiRouteError("only an answered chat completion can be rated; this decision "
                             f"({decision.mode}) has no answer", status=409, code="not_answered")
    feedback, _ = Feedback.objects.update_or_create(
        decision=decision, api_key=api_key, defaults={"rating": rating, "comment": comment, "folded_at": None})
    return feedback


def feedback_fold() -> int:
    """Turn new and changed ratings into registry evidence; returns how many decisions it updated.

    A rated decision becomes one outcome: its answering model on its request's embedding,
    scored by the share of thumbs up among all its ratings. Safe to run twice or at once:
    rows are claimed with skip_locked and marked folded in the same transaction.
    """
    with transaction.atomic():
        claimed = list(Feedback.objects.unfolded().select_for_update(skip_locked=True)
                       .values_list("pk", "decision_id"))
        if not claimed:
            return 0
        decision_ids = {decision_id for _, decision_id in claimed}
        ratings: dict[uuid.UUID, list[int]] = defaultdict(list)
        for decision_id, rating in Feedback.objects.filter(decision_id__in=decision_ids).values_list(
                "decision_id", "rating"):
            ratings[decision_id].append(rating)
        outcomes = [_outcome(decision, ratings[decision.pk])
                    for decision in Decision.objects.filter(pk__in=decision_ids).select_related("usage")
                    if decision.answered_by_id is not None and decision.embedding is not None]
        if outcomes:
            field_evidence_record(dataset_name=EVIDENCE_DATASET, outcomes=outcomes)
        Feedback.objects.filter(pk__in=[pk for pk, _ in claimed]).update(folded_at=timezone.now())
    return len(outcomes)


def _outcome(decision: Decision, ratings: list[int]) -> FieldOutcome:
    usage = getattr(decision, "usage", None)
    return FieldOutcome(
        key=str(decision.pk), embedding=decision.embedding, llm_id=decision.answered_by_id,  # type: ignore[arg-type]
        score=sum(r > 0 for r in ratings) / len(ratings), cost_usd=usage.cost_usd if usage else 0.0,
        task_type=decision.analysis.get("task_type", ""), domain=decision.analysis.get("domain", ""))
