"""One domain error type for the whole API, mapped to HTTP in one place; every error under the
API's paths answers JSON in one shape: {"error": {"message", "type", "code"}}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import db
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
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


API_PREFIXES = ("/api/", "/v1/")
DATABASE_RETRY_AFTER_S = 5
# Headers of an error response that tell the client what to do next.
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


class JsonErrorsMiddleware:
    """Answers the API's errors that no DRF view shaped, in the API's JSON shape.

    DRF views answer their own errors through `exception_handler`. What happens outside them
    would get Django's HTML pages: a path no view matches (a 404 page, or in DEBUG the URL list),
    and an exception escaping a view or the rendering of its response (a 500 page, or in DEBUG
    the traceback). Django has already logged the exception when its response comes through
    here; the client is told only the status. Paths outside the API keep Django's pages.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """Errors that are not the caller's mistake nor a bug: a body over the size limit (413) and
        the database unreachable (503, to retry shortly), in the API's shape or as a short page."""
        if isinstance(exception, RequestDataTooBig):
            return _error(request, 413, "request_too_large", "the request body is larger than the limit of "
                          f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes")
        if isinstance(exception, (db.OperationalError, db.InterfaceError)):
            db.close_old_connections()
            response = _error(request, 503, "database_unavailable", "the database cannot be reached just now; "
                              "retry in a few seconds")
            response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
            return response
        return None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (response.status_code < 400 or not request.path_info.startswith(API_PREFIXES)
                or response.get("Content-Type", "").startswith("application/json")):
            return response
        return _json_error(request, response)


def _error(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    if request.path_info.startswith(API_PREFIXES):
        kind = "server_error" if status >= 500 else "invalid_request"
        return JsonResponse({"error": {"message": message, "type": kind, "code": code}}, status=status)
    return HttpResponse(f"{message[0].upper()}{message[1:]}.", status=status, content_type="text/plain; charset=utf-8")


def _json_error(request: HttpRequest, original: HttpResponse) -> JsonResponse:
    status = original.status_code
    phrase = original.reason_phrase.lower()
    code = phrase.replace(" ", "_").replace("-", "_")
    if status == 404:
        message = f"no API endpoint at {request.path}; GET /api/schema/ lists them"
    elif status == 405:
        message = f"method {request.method} is not allowed on {request.path}"
    elif status >= 500:
        message = "internal server error; it has been logged"
    else:
        message = phrase
    kind = "server_error" if status >= 500 else "invalid_request"
    response = JsonResponse({"error": {"message": message, "type": kind, "code": code}}, status=status)
    for header in _KEPT_HEADERS:
        if header in original:
            response[header] = original[header]
    return response
