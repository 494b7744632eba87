"""OpenTelemetry: a routed request's stages are spans, under the request's own span."""

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from optiroute.tracing import tracing_setup

pytestmark = pytest.mark.django_db
EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def traced():
    tracing_setup(EXPORTER)  # once per process: OpenTelemetry's provider cannot be replaced
    yield
    EXPORTER.shutdown()  # later tests' spans are dropped, not kept in memory


def test_a_routed_answer_is_traced_stage_by_stage(local_provider, api):
    local_provider({"fake-ok": (0.5, 0.5)})
    EXPORTER.clear()
    body = {"model": "optiroute/auto", "messages": [{"role": "user", "content": "Say hello to the team."}],
            "optiroute": {"constraints": {"allowed_models": ["fake-ok"]}}}
    assert api.post("/v1/chat/completions", body, format="json").status_code == 200
    spans = {s.name: s for s in EXPORTER.get_finished_spans()}
    request = spans["POST /v1/chat/completions"]
    for stage in ("routing.analysis", "routing.evidence", "routing.scoring", "provider.call"):
        assert spans[stage].context.trace_id == request.context.trace_id, stage
    assert spans["provider.call"].attributes["model"] == "fake-ok"
    assert request.attributes["http.status_code"] == 200
