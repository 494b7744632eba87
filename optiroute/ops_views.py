"""Endpoints for the platform that runs OptiRoute: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from optiroute.health import readiness
from optiroute.metrics import exposition

LOOPBACK = {"127.0.0.1", "::1"}


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = readiness()
    failing = [f"{c.name}: {c.detail}" for c in checks if not c.ok]
    body = {"status": "not ready" if failing else "ready", "reasons": failing,
            "checks": {c.name: "ok" if c.ok else c.detail for c in checks}}
    return JsonResponse(body, status=503 if failing else 200)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not _may_scrape(request):
        return JsonResponse({"error": {"message": "metrics are served to loopback callers, or with "
                                                  "Authorization: Bearer $OPTIROUTE_METRICS_TOKEN",
                                       "type": "permission_error", "code": "metrics_forbidden"}}, status=403)
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


def _may_scrape(request: HttpRequest) -> bool:
    token = settings.OPTIROUTE_METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if hmac.compare_digest(sent.encode(), token.encode()):
            return True
    return request.META.get("REMOTE_ADDR") in LOOPBACK
