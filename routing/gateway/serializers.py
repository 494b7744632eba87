from __future__ import annotations

import threading
from typing import Any, cast

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import BindingDict
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from routing.analysis.text import routing_text
from routing.engine.strategies import STRATEGIES
from routing.models import SLIDERS

# JSON Schema patterns for what a CharField accepts: text without NUL (which Postgres cannot
# store), and such text with a character other than whitespace in it. Whitespace is Python's
# (str.strip), spelled out: JSON Schema's \s is ECMAScript's, which differs.
_SPACE = r"\t-\r\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NO_NUL = r"^[^\u0000]*$"
NOT_BLANK = rf"^[^\u0000]*[^{_SPACE}\u0000][^\u0000]*$"
MAX_TOKENS = 1_000_000
MODEL_HELP = "optiroute/auto, optiroute/<profile> (GET /v1/models lists them), or a registered model's name"
MESSAGES_HELP = "at least one user, system or developer message must hold some text"


class InputSerializer(serializers.Serializer):
    """An input-only serializer whose fields are built once per class, not per request.

    DRF deep-copies every declared field (nested serializers included) each time a serializer
    is made, which was a tenth of a routed gateway call's CPU. Validation reads its fields and
    writes no state on them, so the copy bound to one template instance per class serves every
    request and thread. Only for serializers that validate input without context or instance.
    """

    _templates: dict[type, dict[str, serializers.Field]] = {}
    _templates_lock = threading.RLock()
    # What the OpenAPI schema says beyond each field's own schema: rules that validate() applies
    # to the whole body (schema_extra), or to one field (schema_properties, by field name).
    schema_extra: dict[str, Any] = {}
    schema_properties: dict[str, dict[str, Any]] = {}

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


class InputSchema(OpenApiSerializerExtension):
    """The fields' schema, with the limits of their lists, and the serializer's schema_extra."""

    target_class = InputSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if not type(self.target).__doc__:
            schema.pop("description", None)  # not InputSerializer's, which is about its implementation
        for name, field in self.target.fields.items():
            if isinstance(field, serializers.ListSerializer):  # drf-spectacular leaves out their limits
                if not field.allow_empty:
                    schema["properties"][name]["minItems"] = 1
                if field.max_length is not None:
                    schema["properties"][name]["maxItems"] = field.max_length
        for name, extra in self.target.schema_properties.items():
            schema["properties"][name].update(extra)
        return {**schema, **self.target.schema_extra}


class TextField(serializers.CharField):
    """A string and only a string: DRF's CharField would take 42 as "42"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return cast(str, super().to_internal_value(data))


class TextSchema(OpenApiSerializerFieldExtension):
    """A text field refuses NUL and, unless it allows blank strings, text of only whitespace."""

    target_class = TextField

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        return {**schema, "pattern": NO_NUL if self.target.allow_blank else NOT_BLANK}


class UnitFloat(serializers.FloatField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=0.0, max_value=1.0, **kwargs)


class PreferencesSerializer(InputSerializer):
    """Sliders from 0 to 1 that override the profile's; unknown sliders are refused."""

    schema_extra = {"additionalProperties": False}

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
    """Hard limits: a model that breaks one is not a candidate. Unknown keys are refused."""

    schema_extra = {"additionalProperties": False}
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

    profile = TextField(required=False, help_text="a profile's name; GET /v1/models lists them as optiroute/<name>")
    preferences = PreferencesSerializer(required=False)
    constraints = ConstraintsSerializer(required=False)
    strategy = serializers.ChoiceField(choices=sorted(STRATEGIES), required=False, error_messages={
        "invalid_choice": f"unknown strategy {{input!r}}; known: {', '.join(sorted(STRATEGIES))}"})
    max_output_tokens = serializers.IntegerField(required=False, min_value=1, max_value=MAX_TOKENS)


CONTENT_PART = {"type": "object", "properties": {"type": {"type": "string"}, "text": {"type": "string", "pattern": NO_NUL}}}


@extend_schema_field({
    "oneOf": [{"type": "string", "pattern": NO_NUL}, {"type": "array", "items": CONTENT_PART}],
    "nullable": True,
    "description": "a string, or a list of content parts of which those of type text count",
})
class ContentField(serializers.Field):
    """OpenAI message content: a string, or a list of parts of which the text parts count."""

    # As for a CharField: Postgres stores neither NUL nor lone surrogates, the tokenizer takes no surrogates.
    default_validators = [ProhibitNullCharactersValidator(), ProhibitSurrogateCharactersValidator()]

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, str):
            return data
        if isinstance(data, list) and all(isinstance(p, dict) for p in data):
            texts = [p.get("text", "") for p in data if p.get("type") == "text"]
            if all(isinstance(t, str) for t in texts):
                return "".join(texts)
        raise serializers.ValidationError(
            "content must be a string or a list of content parts, whose text parts have a string text")

    def to_representation(self, value: Any) -> str:
        return str(value)


def text_message_schema(roles: list[str]) -> dict[str, Any]:
    """JSON Schema of a message in one of these roles whose content has some text."""
    some_text = {"type": "string", "pattern": NOT_BLANK}
    text_part = {"type": "object", "required": ["type", "text"],
                 "properties": {"type": {"const": "text"}, "text": some_text}}
    return {"type": "object", "required": ["role", "content"], "properties": {
        "role": {"enum": roles}, "content": {"anyOf": [some_text, {"type": "array", "contains": text_part}]}}}


# What chat completions and batches answer: a conversation with something to answer.
ASKING_MESSAGES = {"contains": text_message_schema(["system", "developer", "user"])}


class ChatMessageSerializer(InputSerializer):
    """An OpenAI chat message; other keys (name, tool_calls, ...) are ignored."""

    role = serializers.ChoiceField(choices=["system", "developer", "user", "assistant", "tool"])
    content = ContentField(allow_null=True, required=False, default="")


class RouteInputSerializer(RouteOptionsSerializer):
    """A prompt, or messages: the latest user message is routed, instructions and earlier turns add context."""

    schema_extra = {"anyOf": [
        {"required": ["prompt"]},
        {"required": ["messages"],
         "properties": {"messages": {"contains": text_message_schema(["system", "developer", "user"])}}},
    ]}
    prompt = TextField(required=False, trim_whitespace=False,
                       help_text="the text to route; when given, messages are not read")
    messages = ChatMessageSerializer(many=True, required=False,
                                     help_text="read when prompt is absent: a user, system or developer message "
                                               "must hold some text")

    cascade = serializers.BooleanField(required=False, help_text=(
        "show the cascade a chat completion would run (default: the profile's or the cohort's setting)"))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A prompt is a conversation of one user message; it wins over messages when both are given.
        messages = [{"role": "user", "content": attrs["prompt"]}] if "prompt" in attrs else attrs.get("messages") or []
        said = routing_text(messages)
        if not said.latest.strip():
            raise serializers.ValidationError({"prompt": "give a non-empty prompt (or messages)"})
        attrs.update(text=said.latest, context=said.context, tokens=said.tokens)
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
    latency_source = serializers.CharField(required=False, help_text="observed traffic or the declared figures")


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
    cascade = serializers.DictField(allow_null=True, required=False, help_text=(
        "the cascade planned (first model, second, checks, where it escalates) or why none was; "
        "null when the request was not cascaded"))


class ChatOptionsSerializer(RouteOptionsSerializer):
    """Routing options of a chat completion or batch; allow_escalation lets a failed call fall back
    to a costlier model."""

    allow_escalation = serializers.BooleanField(required=False, default=False)
    cascade = serializers.BooleanField(required=False, help_text=(
        "answer with a cheap model first and escalate only when a check fails (default: the profile's "
        "or the cohort's setting)"))


class StreamOptionsSerializer(InputSerializer):
    include_usage = serializers.BooleanField(required=False, default=False)


class ChatCompletionInputSerializer(InputSerializer):
    """OpenAI's chat completion request; other keys are ignored."""

    schema_properties = {"messages": ASKING_MESSAGES}
    model = TextField(help_text=MODEL_HELP)
    messages = ChatMessageSerializer(many=True, allow_empty=False, help_text=MESSAGES_HELP)
    stream = serializers.BooleanField(required=False, default=False,
                                      help_text="answer as server-sent events (text/event-stream)")
    stream_options = StreamOptionsSerializer(required=False)
    max_tokens = serializers.IntegerField(required=False, min_value=1, max_value=MAX_TOKENS, allow_null=True)
    max_completion_tokens = serializers.IntegerField(required=False, min_value=1, max_value=MAX_TOKENS,
                                                     allow_null=True)
    temperature = serializers.FloatField(required=False, min_value=0.0, max_value=2.0, allow_null=True)
    optiroute = ChatOptionsSerializer(required=False)

    def validate_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return with_text(messages)


def with_text(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for message in messages:
        message["content"] = message.get("content") or ""
    if not any(m["content"].strip() for m in messages if m["role"] in ("user", "system", "developer")):
        raise serializers.ValidationError("at least one user or system message needs text")
    return messages


class ChatCompletionOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField()
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = serializers.ListField(child=serializers.DictField())
    usage = serializers.DictField()
    optiroute = serializers.DictField()


# One server-sent event of a streamed chat completion (OpenAPI's text/event-stream schema describes an event).
CHAT_EVENT = {"type": "object", "required": ["data"], "properties": {"data": {
    "type": "string",
    "description": "a chat.completion.chunk as JSON, as OpenAI streams them; then a chunk with OptiRoute's "
                   "field (or an error object if every model failed); last the string [DONE]"}}}


class ModelListSerializer(serializers.Serializer):
    object = serializers.CharField()
    data = serializers.ListField(child=serializers.DictField())
