"""Request bodies above the size limit are refused with 413 and the limit, in the API's JSON shape."""

import json

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/v1/route", "/v1/chat/completions"])
def test_an_oversized_api_body_is_refused_with_413_json(settings, api, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    body = json.dumps({"prompt": "x" * 10_000, "messages": [{"role": "user", "content": "x" * 10_000}]})
    response = api.post(path, body, content_type="application/json")
    assert response.status_code == 413, response.content
    error = response.json()["error"]
    assert error["code"] == "request_too_large" and "4096 bytes" in error["message"]
