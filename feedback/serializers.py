from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from feedback.models import Feedback
from routing.gateway.serializers import TextField

RATINGS: dict[str | int, int] = {**{rating.label: rating.value for rating in Feedback.Rating}, 1: 1, -1: -1}
LABELS = {rating.value: rating.label for rating in Feedback.Rating}


@extend_schema_field({"oneOf": [{"type": "string", "enum": list(Feedback.Rating.labels)},
                               {"type": "integer", "enum": [1, -1]}]})
class RatingField(serializers.ChoiceField):
    """"up" or "down" (1 and -1 are accepted too); or the implicit "regenerated" (the user asked
    again) and "edited" (the user fixed the answer), weaker than "down"."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=list(Feedback.Rating.labels), **kwargs)

    def to_internal_value(self, data: Any) -> int:
        # Only strings and integers can be a rating; a JSON object is unhashable, and True == 1.
        if type(data) not in (str, int) or data not in RATINGS:
            self.fail("invalid_choice", input=data)
        return RATINGS[data]

    def to_representation(self, value: Any) -> str:
        return LABELS[value]


class FeedbackInputSerializer(serializers.Serializer):
    decision_id = serializers.UUIDField()
    rating = RatingField()
    comment = TextField(required=False, allow_blank=True, max_length=2000, default="")


class FeedbackOutputSerializer(serializers.ModelSerializer):
    rating = RatingField()

    class Meta:
        model = Feedback
        fields = ["decision_id", "rating", "comment", "created_at", "updated_at"]
