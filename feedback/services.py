"""Feedback workflows: recording a rating, and folding ratings into the registry's evidence."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from feedback.models import Feedback
from optiroute.api_errors import OptiRouteError
from registry.services import FieldOutcome, field_evidence_record
from routing.models import ApiKey, Decision

EVIDENCE_DATASET = "field-feedback"


def get_decision_for_key(api_key: ApiKey, decision_id: uuid.UUID) -> Decision:
    """A decision made with this key, or with any key of its cohort when the cohort allows it;
    any other is "not found", not "forbidden"."""
    decisions = Decision.objects.filter(pk=decision_id)
    if api_key.cohort.keys_rate_cohort_decisions:
        decision = decisions.filter(cohort=api_key.cohort_id).first()
    else:
        decision = decisions.filter(api_key=api_key).first()
    if decision is None:
        raise _not_found(decision_id, "made with this key (or its cohort's, where the cohort allows it)")
    return decision


def get_decision_for_user(user: Any, decision_id: uuid.UUID) -> Decision:
    """A decision answering this person's own request: nobody rates another member's answers."""
    # Browser chat decisions are made with the person's own chat key (routing.access.keys).
    decision = Decision.objects.filter(Q(user=user) | Q(api_key__user=user), pk=decision_id).first()
    if decision is None:
        raise _not_found(decision_id, "of yours")
    return decision


def _not_found(decision_id: uuid.UUID, whose: str) -> OptiRouteError:
    return OptiRouteError(f"no decision {decision_id} {whose} (decisions are stored within a second of the "
                          "answer)", status=404, code="decision_not_found")


def feedback_record(*, api_key: ApiKey, decision_id: uuid.UUID, rating: int, comment: str = "",
                    user: Any = None) -> Feedback:
    """Record (or change) a rating of an answered call: a person's own (`user`, in the browser),
    else the key's. One rating per rater and decision; a second one replaces it."""
    decision = get_decision_for_user(user, decision_id) if user is not None else get_decision_for_key(
        api_key, decision_id)
    if decision.answered_by_id is None:
        raise OptiRouteError("only an answered chat completion can be rated; this decision "
                             f"({decision.mode}) has no answer", status=409, code="not_answered")
    rater = {"user": user} if user is not None else {"api_key": api_key, "user": None}
    defaults = {"rating": rating, "comment": comment, "folded_at": None, "api_key": api_key}
    feedback, _ = Feedback.objects.update_or_create(decision=decision, **rater, defaults=defaults)
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
