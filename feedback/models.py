"""Feedback: end users' ratings of answered calls, explicit (thumbs) or implicit (regenerated, edited)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Window
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from routing.models import ApiKey, Decision


class FeedbackQuerySet(models.QuerySet["Feedback"]):
    def unfolded(self) -> FeedbackQuerySet:
        """Given or changed since it last went into the registry's evidence."""
        return self.filter(folded_at__isnull=True)

    def due(self, horizon: timedelta) -> FeedbackQuerySet:
        """To fold: unfolded, or aged past the horizon since it was folded (folded while it still
        counted). Folding marks it again, so an aged rating is due once."""
        aged = Q(updated_at__lt=timezone.now() - horizon, folded_at__lt=F("updated_at") + horizon)
        return self.filter(Q(folded_at__isnull=True) | aged)

    def with_group(self) -> FeedbackQuerySet:
        """Annotated with the group that bounds one rater's influence: rater, model, task type.
        A rater is a person, else a key (user ids negated, so they never equal a key's id)."""
        rater = Coalesce(-F("user_id"), F("api_key_id"), output_field=models.BigIntegerField())
        return self.annotate(rater_id=rater, llm_id=F("decision__answered_by_id"),
                             task_type=KeyTextTransform("task_type", "decision__analysis"))

    def same_groups_as(self, pks: list[int]) -> FeedbackQuerySet:
        """Every rating in the groups of these ratings (theirs included)."""
        groups = set(self.with_group().filter(pk__in=pks).values_list("rater_id", "llm_id", "task_type"))  # type: ignore[misc]
        match = Q(pk__in=pks)
        for rater_id, llm_id, task_type in groups:
            match |= Q(rater_id=rater_id, llm_id=llm_id, task_type=task_type)
        return self.with_group().filter(match)

    def counted(self, horizon: timedelta, cap: int) -> FeedbackQuerySet:
        """The ratings that count as evidence: given within the horizon, in a cohort that learns
        from feedback, and among their rater's `cap` newest for that model and task type."""
        live = self.with_group().filter(updated_at__gte=timezone.now() - horizon, reset_at__isnull=True).exclude(
            decision__cohort__learns_from_feedback=False)
        newest = Window(RowNumber(), partition_by=[F("rater_id"), F("llm_id"), F("task_type")],
                        order_by=[F("updated_at").desc(), F("pk").desc()])
        return live.annotate(rank=newest).filter(rank__lte=cap)


class Feedback(models.Model):
    class Rating(models.IntegerChoices):
        UP = 1, "up"
        DOWN = -1, "down"
        # Implicit signals: the user asked again, or fixed the answer. Weaker than a thumbs down.
        REGENERATED = -2, "regenerated"
        EDITED = -3, "edited"

    # What each rating says about the answer's quality (0..1), the score its evidence carries.
    SCORES = {Rating.UP: 1.0, Rating.DOWN: 0.0, Rating.REGENERATED: 0.25, Rating.EDITED: 0.5}

    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="feedback")
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, related_name="feedback")
    # Set when a person rated in the browser: the rater is the person, whatever their chat key.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True,
                             related_name="feedback")
    rating = models.SmallIntegerField(choices=Rating.choices)
    comment = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When this rating last reached the registry's evidence; cleared when the rating changes.
    folded_at = models.DateTimeField(null=True, blank=True)
    # When staff reset what feedback changed for this model (feedback_reset): kept, no longer counted.
    reset_at = models.DateTimeField(null=True, blank=True)

    objects = FeedbackQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["decision", "user"], condition=models.Q(user__isnull=False),
                                    name="feedback_once_per_user"),
            models.UniqueConstraint(fields=["decision", "api_key"], condition=models.Q(user__isnull=True),
                                    name="feedback_once_per_key"),
        ]
        indexes = [models.Index(fields=["folded_at"])]

    def __str__(self) -> str:
        return f"{self.get_rating_display()} on {self.decision_id}"

    @property
    def score(self) -> float:
        return self.SCORES[self.Rating(self.rating)]

    @property
    def rater(self) -> str:
        """Who gave it, for bounding one rater's influence: a person, else an API key."""
        return f"user:{self.user_id}" if self.user_id else f"key:{self.api_key_id}"
