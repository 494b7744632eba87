"""Feedback: end users' thumbs up or down on answered calls."""

from __future__ import annotations

from django.db import models

from routing.models import ApiKey, Decision


class FeedbackQuerySet(models.QuerySet["Feedback"]):
    def unfolded(self) -> FeedbackQuerySet:
        """Given or changed since it last went into the registry's evidence."""
        return self.filter(folded_at__isnull=True)


class Feedback(models.Model):
    class Rating(models.IntegerChoices):
        UP = 1, "up"
        DOWN = -1, "down"

    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="feedback")
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, related_name="feedback")
    rating = models.SmallIntegerField(choices=Rating.choices)
    comment = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When this rating last reached the registry's evidence; cleared when the rating changes.
    folded_at = models.DateTimeField(null=True, blank=True)

    objects = FeedbackQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["decision", "api_key"], name="feedback_once_per_key")]
        indexes = [models.Index(fields=["folded_at"])]

    def __str__(self) -> str:
        return f"{self.get_rating_display()} on {self.decision_id}"
