from __future__ import annotations

from typing import Any

from rest_framework import serializers

from registry.models import LLM
from routing.batches.selection import MODES
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
    reference = TextField(required=False, allow_blank=True, max_length=20_000,
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


MORE_HELP = ("more chunks of requests follow (POST /api/v1/batches/<id>/items): the model is chosen once a "
             "chunk comes without it")


class BatchRequestsSerializer(InputSerializer):
    """A chunk of up to 10,000 requests."""

    requests = BatchRequestSerializer(many=True, allow_empty=False, max_length=10_000,
                                      help_text="their custom_id values must be unique")
    more_to_come = serializers.BooleanField(required=False, default=False, help_text=MORE_HELP)

    def validate_requests(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [r["custom_id"] for r in requests if "custom_id" in r]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("custom_id values must be unique within a batch")
        return requests


class BatchInputSerializer(BatchRequestsSerializer):
    """Up to 10,000 chat requests answered by one model (more in further chunks)."""

    model = TextField(default="optiroute/auto", help_text=MODEL_HELP)
    optiroute = BatchOptionsSerializer(required=False)
    max_tokens = serializers.IntegerField(required=False, min_value=1, max_value=MAX_TOKENS, allow_null=True,
                                          help_text="the longest answer of every request that sets none")
    budget_usd = serializers.FloatField(required=False, min_value=0.0, allow_null=True,
                                        help_text="the batch stops before its spending (sample included) passes this")
    auto_run = serializers.BooleanField(required=False, default=False,
                                        help_text="run the proposed model at once; otherwise the batch waits, "
                                                  "status proposed, for POST .../confirm")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        # The references stay with their requests (stored per row, as a console upload stores them);
        # with more chunks to come, they may be in a later chunk (choosing says so if none is).
        selection = (data.get("optiroute") or {}).get("selection")
        has_references = data["more_to_come"] or any(r.get("reference") for r in data["requests"])
        if selection and selection["mode"] == "graded" and not has_references and not selection.get("judge"):
            raise serializers.ValidationError({"optiroute": {"selection": [
                "graded selection needs a `reference` answer on some requests or a `judge` model"]}})
        return data


class BatchUploadSerializer(serializers.Serializer):
    """The multipart form of a batch or a chunk: a CSV or JSONL file of requests beside the other fields."""

    file = serializers.FileField(help_text="CSV (a prompt column; custom_id, system, max_tokens, reference optional) "
                                           "or JSONL (prompt or messages a line); up to 20 MB and 10,000 rows")
    model = serializers.CharField(required=False, help_text=MODEL_HELP + " (a new batch only)")
    optiroute = serializers.CharField(required=False, help_text="the `optiroute` object as JSON text (a new batch only)")
    max_tokens = serializers.IntegerField(required=False, min_value=1, max_value=MAX_TOKENS)
    budget_usd = serializers.FloatField(required=False, min_value=0.0)
    auto_run = serializers.BooleanField(required=False)
    more_to_come = serializers.BooleanField(required=False, help_text=MORE_HELP)


class BatchResumeSerializer(InputSerializer):
    budget_usd = serializers.FloatField(required=False, min_value=0.0, allow_null=True,
                                        help_text="a new total budget for the batch (one it stopped at, raised)")


class ClusterModelSerializer(serializers.Serializer):
    cluster = serializers.IntegerField()
    model = serializers.CharField()
    rows = serializers.IntegerField(help_text="its requests still to answer")


class ProposalSerializer(serializers.Serializer):
    model = serializers.CharField()
    per_cluster = ClusterModelSerializer(many=True, required=False, help_text=(
        "with selection.per_cluster: the model that answers each cluster's requests"))
    expected_quality = serializers.FloatField(allow_null=True)
    answers_cost_usd = serializers.FloatField(help_text="the projected cost of answering every request")
    sample_cost_usd = serializers.FloatField(help_text="what choosing on the sample cost")
    answered_in_sample = serializers.IntegerField(help_text=(
        "sampled requests already answered, in grading, by the model that answers them: their answers "
        "stand and are not paid again (their cost is in sample_cost_usd)"))
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
    awaiting_more = serializers.BooleanField(help_text="more chunks of requests are to be appended")
    eta_seconds = serializers.FloatField(allow_null=True, help_text="estimated time left while it runs")
    error = serializers.CharField(allow_null=True)


class BatchResultsSerializer(serializers.Serializer):
    object = serializers.CharField()
    data = serializers.ListField(child=serializers.DictField())
