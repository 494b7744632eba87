"""OpenTelemetry traces of a request's stages: the request, routing's analysis, evidence and
scoring, and each provider call. Off by default: spans cost nothing until OPTIROUTE_TRACING names
an exporter ("otlp": OTEL_EXPORTER_OTLP_ENDPOINT and the other standard OTEL_* variables;
"console": spans printed, for a look during development)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from opentelemetry import trace

tracer = trace.get_tracer("optiroute")
_installed = False


def tracing_setup(exporter: Any = None) -> None:
    """Install the SDK's tracer provider with the configured exporter (or the one given, in tests)."""
    global _installed
    if _installed or (exporter is None and settings.OPTIROUTE_TRACING == "off"):
        return
    _installed = True
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "optiroute"}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif settings.OPTIROUTE_TRACING == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


@contextmanager
def span(name: str, **attributes: str | int | float | bool) -> Iterator[None]:
    with tracer.start_as_current_span(name, attributes=attributes):
        yield


class TracingMiddleware:
    """One span per HTTP request, named by its route (never its query or body)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with tracer.start_as_current_span(f"{request.method} {request.path_info}") as current:
            response = self.get_response(request)
            current.set_attribute("http.status_code", response.status_code)
            return response
