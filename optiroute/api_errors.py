"""One domain error type for the whole API, mapped to HTTP in one place."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class OptiRouteError(Exception):
    """A user-facing error: `status` is the HTTP code, `code` a stable machine-readable name."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.details = details or {}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, OptiRouteError):
        body: dict[str, Any] = {"error": {"message": exc.message, "type": exc.code, "code": exc.code}}
        if exc.details:
            body["error"]["details"] = exc.details
        return Response(body, status=exc.status)
    response = drf_exception_handler(exc, context)
    if response is not None:
        detail = response.data
        message = detail.get("detail") if isinstance(detail, dict) and "detail" in detail else detail
        response.data = {"error": {"message": _flatten(message), "type": "invalid_request",
                                   "code": getattr(exc, "default_code", "invalid_request"),
                                   "details": detail}}
    return response


def _flatten(message: Any) -> str:
    if isinstance(message, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in message.items())
    if isinstance(message, list):
        return " ".join(_flatten(item) for item in message)
    return str(message)
