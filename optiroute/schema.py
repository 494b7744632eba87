"""`GET /api/schema/`, one generation at a time, and the error answers every operation documents.

drf-spectacular resolves its extensions' target classes lazily, on the first schema
generation, by rewriting class attributes; two threads generating the first schema at once
can see each other's half-done rewrite and fail with a 500. Generating the schema under a
lock costs nothing that matters: the endpoint is read by tools, not on the request path.
"""

from __future__ import annotations

import threading
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from drf_spectacular.views import SCHEMA_KWARGS, SpectacularAPIView
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

_lock = threading.Lock()


class SchemaView(SpectacularAPIView):
    @extend_schema(**SCHEMA_KWARGS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with _lock:
            return super().get(request, *args, **kwargs)


class SchemaAliasView(SchemaView):
    """`/api/schema` without its slash: APPEND_SLASH would answer a POST to it with a 500 in DEBUG.
    Not listed in the schema, which would otherwise show the same operation twice."""

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ErrorBodySerializer(serializers.Serializer):
    message = serializers.CharField(help_text="what went wrong, naming the field or option at fault")
    type = serializers.CharField(help_text="invalid_request for a client error, server_error for ours, "
                                           "or the same as code")
    code = serializers.CharField(help_text="a stable machine-readable name, e.g. model_not_found")
    details = serializers.JSONField(required=False, help_text="per-field errors, or facts such as the decision id")


class ErrorSerializer(serializers.Serializer):
    """Every error under /api/ and /v1/ (optiroute.api_errors)."""

    error = ErrorBodySerializer()


ERRORS = {
    400: "Invalid request: the message names the field or option at fault.",
    401: "Missing, invalid or revoked API key.",
    403: "The model is outside the cohort's model pool, or the key's chat access is revoked.",
    404: "No such model, or no such batch or decision for this key's cohort.",
    409: "The decision cannot be rated: it has no answer; or the batch's state does not allow the action.",
    413: "The uploaded file is larger than a batch upload may be.",
    415: "The body is not JSON (or, where a file may be uploaded, multipart form data).",
    422: "No model meets the constraints.",
    429: "The cohort's monthly budget is spent.",
    502: "No model could answer: every provider in the fallback chain failed.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The documented error answers of an operation, all in the shape of ErrorSerializer."""
    return {status: OpenApiResponse(ErrorSerializer, description=ERRORS[status]) for status in statuses}


def require_request_bodies(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Every operation that takes a body needs one. drf-spectacular marks a body required only
    when a field is; the route's body has none (it needs prompt or messages), and sent without a
    body it answers 400."""
    for path in result["paths"].values():
        for operation in path.values():
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True
    return result
