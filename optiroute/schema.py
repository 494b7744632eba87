"""`GET /api/schema/`, one generation at a time.

drf-spectacular resolves its extensions' target classes lazily, on the first schema
generation, by rewriting class attributes; two threads generating the first schema at once
can see each other's half-done rewrite and fail with a 500. Generating the schema under a
lock costs nothing that matters: the endpoint is read by tools, not on the request path.
"""

from __future__ import annotations

import threading
from typing import Any

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SCHEMA_KWARGS, SpectacularAPIView
from rest_framework.request import Request
from rest_framework.response import Response

_lock = threading.Lock()


class SchemaView(SpectacularAPIView):
    @extend_schema(**SCHEMA_KWARGS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with _lock:
            return super().get(request, *args, **kwargs)
