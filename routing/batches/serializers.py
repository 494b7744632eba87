from __future__ import annotations

from typing import Any

from rest_framework import serializers

from routing.gateway.serializers import (
    ASKING_MESSAGES,
    MAX_TOKENS,
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
    max_tokens = serializers.IntegerField(required=False, min_value=1, max_value=MAX_TOKENS, allow_null=True,
                                          help_text="the longest answer for this request; default: the batch's")
    reference = TextField(required=False, allow_blank=True, max_length=100_000,
                          help_text="the expected answer, for graded selection on the sample")

    def validate_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return with_text(messages)


class BatchInputSerializer(InputSerializer):
    """Up to 10,000 chat requests answered by one model."""

    model = TextField(default="optiroute/auto", help_text=MODEL_HELP)
    requests = BatchRequestSerializer(many=True, allow_empty=False, max_length=10_000,
                                      help_text="their custom_id values must be unique")
    optiroute = ChatOptionsSerializer(required=False)
    max_tokens = serializers.IntegerField(required=False, min_value=1, max_value=MAX_TOKENS, allow_null=True,
                                          help_text="the longest answer of every request that sets none")
    budget_usd = serializers.FloatField(required=False, min_value=0.0, allow_null=True,
                                        help_text="the batch stops before its spending (sample included) passes this")
    auto_run = serializers.BooleanField(required=False, default=False,
                                        help_text="run the proposed model at once; otherwise the batch waits, "
                                                  "status proposed, for POST .../confirm")

    def validate_requests(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [r["custom_id"] for r in requests if "custom_id" in r]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("custom_id values must be unique within a batch")
        return requests


class BatchResumeSerializer(InputSerializer):
    budget_usd = serializers.FloatField(required=False, min_value=0.0, allow_null=True,
                                        help_text="a new total budget for the batch (one it stopped at, raised)")


class ProposalSerializer(serializers.Serializer):
    model = serializers.CharField()
    expected_quality = serializers.FloatField(allow_null=True)
    answers_cost_usd = serializers.FloatField(help_text="the projected cost of answering every request")
    sample_cost_usd = serializers.FloatField(help_text="what choosing on the sample cost")
    cost_usd = serializers.FloatField(help_text="the projected cost of the whole batch, sample included")


class BatchOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    object = serializers.CharField()
    status = serializers.ChoiceField(choices=["queued", "proposed", "running", "succeeded", "failed", "cancelled",
                                              "stopped"])
    model = serializers.CharField()
    total = serializers.IntegerField()
    done = serializers.IntegerField(help_text="requests answered")
    answered = serializers.IntegerField(help_text="the same as done")
    failed = serializers.IntegerField()
    remaining = serializers.IntegerField()
    pending = serializers.IntegerField(help_text="the same as remaining")
    sample_size = serializers.IntegerField()
    chosen_model = serializers.CharField(allow_null=True)
    choice = serializers.DictField()
    proposal = ProposalSerializer(allow_null=True)
    cost_usd = serializers.FloatField(help_text="spent so far")
    budget_usd = serializers.FloatField(allow_null=True)
    max_tokens = serializers.IntegerField(allow_null=True)
    auto_run = serializers.BooleanField()
    eta_seconds = serializers.FloatField(allow_null=True, help_text="estimated time left while it runs")
    error = serializers.CharField(allow_null=True)


class BatchResultsSerializer(serializers.Serializer):
    object = serializers.CharField()
    data = serializers.ListField(child=serializers.DictField())
