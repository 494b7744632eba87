from __future__ import annotations

import threading
from typing import Any, cast

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import BindingDict
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from routing.models import SLIDERS

MAX_TOKENS = 1_000_000


class InputSerializer(serializers.Serializer):
    """An input-only serializer whose fields are built once per class, not per request.

    DRF deep-copies every declared field (nested serializers included) each time a serializer
    is made, which was a tenth of a routed gateway call's CPU. Validation reads its fields and
    writes no state on them, so the copy bound to one template instance per class serves every
    request and thread. Only for serializers that validate input without context or instance.
    """

    _templates: dict[type, dict[str, serializers.Field]] = {}
    _templates_lock = threading.RLock()

    @property
    def fields(self) -> dict[str, serializers.Field]:  # type: ignore[override]
        cls = type(self)
        shared = InputSerializer._templates.get(cls)
        if shared is None:
            with InputSerializer._templates_lock:
                shared = InputSerializer._templates.get(cls)
                if shared is None:
                    template = cls()
                    shared = BindingDict(template)
                    for name, field in template.get_fields().items():
                        shared[name] = field
                    InputSerializer._templates[cls] = shared
        return shared


class TextField(serializers.CharField):
    """A string and only a string: DRF's CharField would take 42 as "42"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return cast(str, super().to_internal_value(data))


class UnitFloat(serializers.FloatField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=0.0, max_value=1.0, **kwargs)


class PreferencesSerializer(InputSerializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {slider: UnitFloat(required=False) for slider in SLIDERS}

    def to_internal_value(self, data: Any) -> dict[str, float]:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(SLIDERS))
            if unknown:
                raise serializers.ValidationError(
                    f"unknown preference(s) {', '.join(unknown)}; sliders are {', '.join(SLIDERS)}")
        return super().to_internal_value(data)


class ConstraintsSerializer(InputSerializer):
    max_cost_usd = serializers.FloatField(required=False, min_value=0.0)
    max_latency_ms = serializers.FloatField(required=False, min_value=0.0)
    min_context_window = serializers.IntegerField(required=False, min_value=1)
    allowed_models = serializers.ListField(child=TextField(), required=False)
    denied_models = serializers.ListField(child=TextField(), required=False)
    licenses = serializers.ListField(child=TextField(), required=False)
    local_only = serializers.BooleanField(required=False)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    f"unknown constraint(s) {', '.join(unknown)}; known: {', '.join(self.fields)}")
        return super().to_internal_value(data)


class RouteOptionsSerializer(InputSerializer):
    """Routing options: the body of /api/v1/route and the `optiroute` field of chat completions."""

    profile = TextField(required=False)
    preferences = PreferencesSerializer(required=False)
    constraints = ConstraintsSerializer(required=False)
    strategy = TextField(required=False)
    max_output_tokens = serializers.IntegerField(required=False, min_value=1, max_value=MAX_TOKENS)


@extend_schema_field(OpenApiTypes.STR)
class ContentField(serializers.Field):
    """OpenAI message content: a string, or a list of parts of which the text parts count."""

    # As for a CharField: Postgres stores neither NUL nor lone surrogates, the tokenizer takes no surrogates.
    default_validators = [ProhibitNullCharactersValidator(), ProhibitSurrogateCharactersValidator()]

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, str):
            return data
        if isinstance(data, list) and all(isinstance(p, dict) for p in data):
            texts = [p.get("text") for p in data if p.get("type") == "text"]
            if all(isinstance(t, str) for t in texts):
                return "".join(texts)
        raise serializers.ValidationError(
            "content must be a string or a list of content parts, whose text parts have a string text")

    def to_representation(self, value: Any) -> str:
        return str(value)


class ChatMessageSerializer(InputSerializer):
    role = serializers.ChoiceField(choices=["system", "developer", "user", "assistant", "tool"])
    content = ContentField(allow_null=True, required=False, default="")


class RouteInputSerializer(RouteOptionsSerializer):
    prompt = TextField(required=False, trim_whitespace=False, allow_blank=True)
    messages = ChatMessageSerializer(many=True, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        text = attrs.get("prompt")
        if text is None and attrs.get("messages"):
            text = "\n".join(m["content"] or "" for m in attrs["messages"] if m["role"] != "assistant")
        if not text or not text.strip():
            raise serializers.ValidationError({"prompt": "give a non-empty prompt (or messages)"})
        attrs["text"] = text
        return attrs


class CandidateSerializer(serializers.Serializer):
    model = serializers.CharField()
    utility = serializers.FloatField()
    scores = serializers.DictField(child=serializers.FloatField())
    expected_quality = serializers.FloatField()
    quality_confidence = serializers.FloatField()
    evidence_n = serializers.IntegerField()
    expected_cost_usd = serializers.FloatField()
    expected_latency_ms = serializers.FloatField()


class DecisionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    model = serializers.CharField()
    strategy = serializers.CharField()
    profile = serializers.CharField()
    weights = serializers.DictField(child=serializers.FloatField())
    constraints = serializers.DictField()
    analysis = serializers.DictField()
    candidates = CandidateSerializer(many=True)
    excluded = serializers.DictField(child=serializers.CharField())
    neighbours = serializers.ListField(child=serializers.DictField())
    filters = serializers.ListField(child=serializers.CharField())
    fallback_reason = serializers.CharField(allow_null=True)
    versions = serializers.DictField()
    timings_ms = serializers.DictField(child=serializers.FloatField())
    explanation = serializers.CharField()


class ChatOptionsSerializer(RouteOptionsSerializer):
    allow_escalation = serializers.BooleanField(required=False, default=False)


class StreamOptionsSerializer(InputSerializer):
    include_usage = serializers.BooleanField(required=False, default=False)


class ChatCompletionInputSerializer(InputSerializer):
    model = TextField(help_text="optiroute/auto, optiroute/<profile>, or a registered model's name")
    messages = ChatMessageSerializer(many=True, allow_empty=False)
    stream = serializers.BooleanField(required=False, default=False)
    stream_options = StreamOptionsSerializer(required=False)
    max_tokens = serializers.IntegerField(required=False, min_value=1, max_value=MAX_TOKENS, allow_null=True)
    max_completion_tokens = serializers.IntegerField(required=False, min_value=1, max_value=MAX_TOKENS,
                                                     allow_null=True)
    temperature = serializers.FloatField(required=False, min_value=0.0, max_value=2.0, allow_null=True)
    optiroute = ChatOptionsSerializer(required=False)

    def validate_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _with_text(messages)


def _with_text(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for message in messages:
        message["content"] = message.get("content") or ""
    if not any(m["content"].strip() for m in messages if m["role"] in ("user", "system", "developer")):
        raise serializers.ValidationError("at least one user or system message needs text")
    return messages


class BatchRequestSerializer(InputSerializer):
    custom_id = TextField(required=False, max_length=200)
    messages = ChatMessageSerializer(many=True, allow_empty=False)

    def validate_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return _with_text(messages)


class BatchInputSerializer(InputSerializer):
    model = TextField(default="optiroute/auto",
                                  help_text="optiroute/auto, optiroute/<profile>, or a registered model's name")
    requests = BatchRequestSerializer(many=True, allow_empty=False, max_length=10_000)
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


class ChatCompletionOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = serializers.ListField(child=serializers.DictField())
    usage = serializers.DictField()
    optiroute = serializers.DictField()


class ModelListSerializer(serializers.Serializer):
    object = serializers.CharField()
    data = serializers.ListField(child=serializers.DictField())
