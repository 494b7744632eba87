from __future__ import annotations

from typing import Any

from rest_framework import serializers

from feedback.models import Feedback


class RatingField(serializers.ChoiceField):
    """"up" or "down" (1 and -1 are accepted too)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=["up", "down"], **kwargs)

    def to_internal_value(self, data: Any) -> int:
        aliases = {"up": 1, "down": -1, 1: 1, -1: -1}
        if isinstance(data, bool) or data not in aliases:
            self.fail("invalid_choice", input=data)
        return aliases[data]

    def to_representation(self, value: Any) -> str:
        return "up" if value > 0 else "down"


class FeedbackInputSerializer(serializers.Serializer):
    decision_id = serializers.UUIDField()
    rating = RatingField()
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class FeedbackOutputSerializer(serializers.ModelSerializer):
    rating = RatingField()

    class Meta:
        model = Feedback
        fields = ["decision_id", "rating", "comment", "created_at", "updated_at"]
