"""Structured logs: one JSON object a line, with the request id and the decision id of whatever
the line is about (from context variables, so no call site passes them). Lines carry what the
code logged and never a request's body: no prompt's text, no key, no secret."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
decision_id: contextvars.ContextVar[str] = contextvars.ContextVar("decision_id", default="")
# A caller's own request id is kept if it looks like one (a proxy's or a client's), else replaced.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "request_id": request_id.get(), "decision_id": decision_id.get()}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class RequestIdMiddleware:
    """Gives each request an id (the caller's X-Request-ID when sane), logs under it, returns it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sent = request.headers.get("X-Request-ID", "")
        rid = sent if _SAFE_ID.match(sent) else uuid.uuid4().hex
        # Set, not reset afterwards: a streamed answer is generated after this returns, and its
        # lines belong to this request too. The thread's next request sets its own.
        request_id.set(rid)
        decision_id.set("")
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response


def task_context(task_id: str) -> None:
    """A Celery task logs under its task id as request id."""
    request_id.set(task_id or "")
    decision_id.set("")
