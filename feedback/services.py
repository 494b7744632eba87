"""Feedback workflows: recording a rating, and folding ratings into the registry's evidence."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from feedback.models import Feedback
from optiroute import metrics
from optiroute.api_errors import OptiRouteError
from registry.services import FieldOutcome, field_evidence_forget, field_evidence_record
from routing.models import ApiKey, Cohort, Decision

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
    defaults = {"rating": rating, "comment": comment, "folded_at": None, "reset_at": None, "api_key": api_key}
    feedback, _ = Feedback.objects.update_or_create(decision=decision, **rater, defaults=defaults)
    metrics.feedback.labels("browser" if user is not None else "api", feedback.get_rating_display()).inc()
    return feedback


def evidence_dataset_for(cohort: Cohort | None) -> tuple[str, str]:
    """The field dataset a cohort's feedback goes to, and its audience: the cohort's own unless
    the admin shares it (then everyone's)."""
    if cohort is None or cohort.shares_feedback:
        return EVIDENCE_DATASET, ""
    return f"{EVIDENCE_DATASET}-{cohort.name}", f"cohort:{cohort.pk}"


def feedback_fold() -> int:
    """Turn new, changed and aged ratings into registry evidence; returns how many decisions'
    evidence it rewrote.

    A rated decision becomes one outcome: its answering model on its request's embedding, scored
    by the mean of its counted ratings (see FeedbackQuerySet.counted: a rater's newest few per
    model and task type, within the horizon, in cohorts that learn). A new rating can push an
    older one of the same rater out of the count, so every decision that rater rated for that
    model and task type is rewritten. Safe to run twice or at once: rows are claimed with
    skip_locked and marked folded in the same transaction; rows left unclaimed while the broker
    or a worker was down are still unfolded, and the next run takes them.
    """
    horizon = timedelta(days=settings.FEEDBACK_HORIZON_DAYS)
    with transaction.atomic():
        claimed = list(Feedback.objects.due(horizon).select_for_update(skip_locked=True).values_list("pk", flat=True))
        if not claimed:
            return 0
        decision_ids = set(Feedback.objects.same_groups_as(claimed).values_list("decision_id", flat=True))
        counted: dict[uuid.UUID, list[float]] = defaultdict(list)
        for feedback in Feedback.objects.counted(horizon, settings.FEEDBACK_RATER_CAP).filter(
                decision_id__in=decision_ids):
            counted[feedback.decision_id].append(feedback.score)
        by_dataset: dict[tuple[str, str], list[FieldOutcome]] = defaultdict(list)
        decisions = Decision.objects.filter(pk__in=decision_ids).select_related("usage", "cohort", "answered_by")
        for decision in decisions:
            if counted[decision.pk] and decision.answered_by_id is not None and decision.embedding is not None:
                by_dataset[evidence_dataset_for(decision.cohort)].append(_outcome(decision, counted[decision.pk]))
        # Forget first: a decision's evidence may move (its cohort started sharing) or go.
        field_evidence_forget(keys=[str(pk) for pk in decision_ids])
        for (name, audience), outcomes in by_dataset.items():
            field_evidence_record(dataset_name=name, outcomes=outcomes, audience=audience)
        Feedback.objects.filter(pk__in=claimed).update(folded_at=timezone.now())
    return len(decision_ids)


def _outcome(decision: Decision, scores: list[float]) -> FieldOutcome:
    usage = getattr(decision, "usage", None)
    return FieldOutcome(
        key=str(decision.pk), embedding=decision.embedding, llm_id=decision.answered_by_id,  # type: ignore[arg-type]
        score=sum(scores) / len(scores), cost_usd=usage.cost_usd if usage else 0.0,
        task_type=decision.analysis.get("task_type", ""), domain=decision.analysis.get("domain", ""),
        expected_score=_expected(decision))


def _expected(decision: Decision) -> float | None:
    """What the evaluations alone led the router to expect of the answering model when it decided
    (None if it was not among the ranked candidates, e.g. a fallback from the reserve)."""
    name = decision.answered_by.name if decision.answered_by else None
    found: dict[str, Any] = next((c for c in decision.candidates if c.get("model") == name), {})
    quality = found.get("evaluated_quality", found.get("expected_quality"))
    return float(quality) if isinstance(quality, int | float) else None


def feedback_reset(*, llm_id: int, task_type: str = "", domain: str = "") -> int:
    """Undo what feedback changed for a model (on one task type or domain, where given): its
    ratings stay on record but no longer count, and their evidence goes now. Returns how many."""
    ratings = Feedback.objects.filter(decision__answered_by_id=llm_id, reset_at__isnull=True)
    if task_type:
        ratings = ratings.filter(decision__analysis__task_type=task_type)
    if domain:
        ratings = ratings.filter(decision__analysis__domain=domain)
    reset = ratings.update(reset_at=timezone.now(), folded_at=None)
    feedback_fold()
    return reset
