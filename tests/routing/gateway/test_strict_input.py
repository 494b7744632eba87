"""Text fields take strings only, and a rating any JSON value: a wrong type is a 400 that names the field."""

import json
import uuid

import pytest

pytestmark = pytest.mark.django_db
USER = [{"role": "user", "content": "Say hello."}]
NOT_TEXT = [42, 4.5, ["a"], {"a": 1}, True]


def refused(api, path, body):
    # json.dumps escapes what UTF-8 cannot carry (a lone surrogate) as a client's JSON would.
    response = api.post(path, json.dumps(body), content_type="application/json")
    assert response.status_code == 400, (body, response.content[:300])
    return response.json()["error"]


@pytest.mark.parametrize("value", NOT_TEXT, ids=repr)
@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/route", lambda v: {"prompt": v}, "prompt"),
    ("/api/v1/route", lambda v: {"messages": [{"role": "user", "content": v}]}, "content"),
    ("/api/v1/route", lambda v: {"messages": [{"role": "user", "content": [{"type": "text", "text": v}]}]}, "content"),
    ("/api/v1/route", lambda v: {"prompt": "hi", "profile": v}, "profile"),
    ("/api/v1/route", lambda v: {"prompt": "hi", "strategy": v}, "strategy"),
    ("/api/v1/route", lambda v: {"prompt": "hi", "constraints": {"allowed_models": [v]}}, "allowed_models"),
    ("/api/v1/route", lambda v: {"prompt": "hi", "constraints": {"denied_models": [v]}}, "denied_models"),
    ("/api/v1/route", lambda v: {"prompt": "hi", "constraints": {"licenses": [v]}}, "licenses"),
    ("/v1/chat/completions", lambda v: {"model": v, "messages": USER}, "model"),
    ("/api/v1/batches", lambda v: {"model": v, "requests": [{"messages": USER}]}, "model"),
    ("/api/v1/batches", lambda v: {"requests": [{"custom_id": v, "messages": USER}]}, "custom_id"),
    ("/api/v1/feedback", lambda v: {"decision_id": str(uuid.uuid4()), "rating": "up", "comment": v}, "comment"),
], ids=lambda p: p if isinstance(p, str) else "")
def test_it_refuses_a_text_field_that_is_not_a_string(api, path, body, field, value):
    error = refused(api, path, body(value))
    assert field in error["message"], error


@pytest.mark.parametrize("rating", [{}, [], {"up": 1}, ["up"], None, 1.5, 2, True, "sideways", "UP"], ids=repr)
def test_it_refuses_any_other_rating(api, rating):
    error = refused(api, "/api/v1/feedback", {"decision_id": str(uuid.uuid4()), "rating": rating})
    assert "rating" in error["message"], error


@pytest.mark.parametrize("text", ["hello \x00 there", "hello \ud800 there"], ids=["nul", "lone surrogate"])
@pytest.mark.parametrize(("path", "body"), [
    ("/api/v1/route", lambda t: {"messages": [{"role": "user", "content": t}]}),
    ("/api/v1/route", lambda t: {"messages": [{"role": "user", "content": [{"type": "text", "text": t}]}]}),
    ("/v1/chat/completions", lambda t: {"model": "optiroute/auto", "messages": [{"role": "user", "content": t}]}),
    ("/api/v1/batches", lambda t: {"requests": [{"messages": [{"role": "user", "content": t}]}]}),
], ids=["route", "route-parts", "chat", "batch"])
def test_it_refuses_message_text_that_cannot_be_stored(api, path, body, text):
    # Postgres stores neither NUL nor lone surrogates, and the tokenizer takes no surrogates.
    error = refused(api, path, body(text))
    assert "content" in error["message"] and "characters are not allowed" in error["message"], error


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_it_refuses_more_output_tokens_than_a_decision_records(api, field):
    error = refused(api, "/v1/chat/completions", {"model": "optiroute/auto", "messages": USER, field: 10**12})
    assert field in error["message"], error
