"""Logs are JSON lines carrying the request id and the decision id, never a prompt or a key."""

import io
import json
import logging

import pytest

pytestmark = pytest.mark.django_db
SECRET_PROMPT = "Zebra-quartz-7781: summarise the confidential merger memo."


@pytest.fixture
def log_lines(settings):
    """What the configured formatter writes, for every logger, during the test."""
    assert settings.LOG_FORMAT == "json"
    formatter = logging.getLogger().handlers[0].formatter
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    root.removeHandler(handler)
    root.setLevel(level)


def test_each_line_names_its_request_and_decision_and_hides_the_prompt_and_key(
        local_provider, api, key, log_lines, settings):
    local_provider({"fake-500": (1.0, 0.9), "fake-ok": (0.5, 0.5)})
    settings.LLM_RETRY_BACKOFF_S = 0.0
    body = {"model": "optiroute/quality-first", "messages": [{"role": "user", "content": SECRET_PROMPT}],
            "optiroute": {"constraints": {"allowed_models": ["fake-500", "fake-ok"]}}}
    response = api.post("/v1/chat/completions", body, format="json", HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 200 and response["X-Request-ID"] == "req-42"
    decision_id = response["x-optiroute-decision-id"]
    lines = log_lines()
    about_it = [line for line in lines if line["request_id"] == "req-42"]
    assert about_it, lines  # the provider's failures were logged under this request
    assert any(line["decision_id"] == decision_id for line in about_it)
    raw = json.dumps(lines)
    assert SECRET_PROMPT not in raw and "Zebra-quartz" not in raw and key[1] not in raw


def test_a_request_without_an_id_gets_one_and_an_unsafe_one_is_replaced(client):
    first = client.get("/healthz")
    unsafe = client.get("/healthz", HTTP_X_REQUEST_ID="x" * 200)
    assert len(first["X-Request-ID"]) == 32 and first["X-Request-ID"] != unsafe["X-Request-ID"]
    assert unsafe["X-Request-ID"] != "x" * 200
