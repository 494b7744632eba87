from __future__ import annotations

from typing import Any

from rest_framework import serializers

from registry.models import LLM
from routing.batches.selection import MODES
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
    reference = TextField(required=False, max_length=20_000,
                          help_text="the expected answer, for graded selection (exact, numeric or token-F1 match)")

    def validate_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return with_text(messages)


class BatchSelectionSerializer(InputSerializer):
    """How the batch's model is chosen from its sample (routing.batches.selection)."""

    mode = serializers.ChoiceField(choices=MODES, default="evidence", help_text=(
        "evidence: the registry's evidence on the sample; graded: the top candidates answer the sample "
        "and their answers are graded against the requests' `reference` answers or by `judge`"))
    top_n = serializers.IntegerField(required=False, min_value=1, max_value=10, help_text="candidates graded")
    judge = TextField(required=False, max_length=200, help_text="a registered model that grades by the rubric")
    rubric = TextField(required=False, max_length=4000)
    per_cluster = serializers.BooleanField(required=False, default=False,
                                           help_text="also propose the best model of each cluster")

    def validate_judge(self, judge: str) -> str:
        if not LLM.objects.filter(name=judge).exists():
            raise serializers.ValidationError(f"unknown model {judge!r}")
        return judge


class BatchOptionsSerializer(ChatOptionsSerializer):
    selection = BatchSelectionSerializer(required=False)


class BatchInputSerializer(InputSerializer):
    """Up to 10,000 chat requests answered by one model."""

    model = TextField(default="optiroute/auto", help_text=MODEL_HELP)
    requests = BatchRequestSerializer(many=True, allow_empty=False, max_length=10_000,
                                      help_text="their custom_id values must be unique")
    optiroute = BatchOptionsSerializer(required=False)

    def validate_requests(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [r["custom_id"] for r in requests if "custom_id" in r]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("custom_id values must be unique within a batch")
        return requests

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        # The references go with the selection options, by each request's custom_id (as stored).
        references = {r.get("custom_id") or str(i): r.pop("reference")
                      for i, r in enumerate(data["requests"]) if "reference" in r}
        selection = (data.get("optiroute") or {}).get("selection")
        if selection is None:
            return data
        if selection["mode"] == "graded" and not references and not selection.get("judge"):
            raise serializers.ValidationError({"optiroute": {"selection": [
                "graded selection needs a `reference` answer on some requests or a `judge` model"]}})
        selection["references"] = references
        return data


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
