from __future__ import annotations

from typing import Any

from rest_framework import serializers

from routing.gateway.serializers import (
    ASKING_MESSAGES,
    MESSAGES_HELP,
    MODEL_HELP,
    ChatMessageSerializer,
    ChatOptionsSerializer,
    InputSerializer,
    TextField,
    with_text,
)


class BatchRequestSerializer(InputSerializer):
    schema_properties = {"messages": ASKING_MESSAGES}
    custom_id = TextField(required=False, max_length=200, help_text="unique within the batch; default: the position")
    messages = ChatMessageSerializer(many=True, allow_empty=False, help_text=MESSAGES_HELP)

    def validate_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return with_text(messages)


class BatchInputSerializer(InputSerializer):
    """Up to 10,000 chat requests answered by one model."""

    model = TextField(default="optiroute/auto", help_text=MODEL_HELP)
    requests = BatchRequestSerializer(many=True, allow_empty=False, max_length=10_000,
                                      help_text="their custom_id values must be unique")
    optiroute = ChatOptionsSerializer(required=False)

    def validate_requests(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [r["custom_id"] for r in requests if "custom_id" in r]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("custom_id values must be unique within a batch")
        return requests


class BatchOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    object = serializers.CharField()
    status = serializers.CharField()
    model = serializers.CharField()
    total = serializers.IntegerField()
    answered = serializers.IntegerField()
    failed = serializers.IntegerField()
    pending = serializers.IntegerField()
    sample_size = serializers.IntegerField()
    chosen_model = serializers.CharField(allow_null=True)
    choice = serializers.DictField()
    cost_usd = serializers.FloatField()
    error = serializers.CharField(allow_null=True)


class BatchResultsSerializer(serializers.Serializer):
    object = serializers.CharField()
    data = serializers.ListField(child=serializers.DictField())
