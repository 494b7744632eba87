"""Every error under /api/ and /v1/ answers JSON in one shape, in DEBUG too; other pages keep Django's."""

import pytest
from django.test import Client
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def broken(request):
    raise RuntimeError("secret internals")


class Unrenderable(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def get(self, request):
        return Response({"utility": float("nan")})  # JSON has no NaN: rendering fails after the view


urlpatterns = [
    path("api/v1/broken", broken),
    path("v1/unrenderable", Unrenderable.as_view()),
    path("console/broken", broken),
    path("", include("optiroute.urls")),
]


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def client(request, settings):
    settings.DEBUG = request.param
    return Client(raise_request_exception=False)


def error_of(response, status):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    error = response.json()["error"]
    assert {"message", "type", "code"} <= set(error) and all(isinstance(error[k], str) for k in ("message", "type", "code"))
    return error


@pytest.mark.parametrize(("method", "url"), [
    ("get", "/api/v1/batches/abc"),
    ("get", "/api/v1/batches/abc/results"),
    ("post", "/api/v1/nothing"),
    ("get", "/api/"),
    ("delete", "/v1/nothing/here"),
    ("get", "/v1/"),
])
def test_it_answers_unknown_api_paths_in_json(client, method, url):
    error = error_of(getattr(client, method)(url), 404)
    assert error["code"] == "not_found" and url in error["message"]


@pytest.mark.parametrize(("method", "url"), [("get", "/api/v1/route"), ("delete", "/v1/chat/completions"),
                                             ("post", "/v1/models")])
def test_it_answers_a_wrong_method_in_json(client, key, method, url):
    error = error_of(getattr(client, method)(url, HTTP_AUTHORIZATION=f"Bearer {key[1]}"), 405)
    assert error["code"] == "method_not_allowed"


def test_it_serves_the_schema_with_or_without_its_slash(client):
    assert client.get("/api/schema", HTTP_ACCEPT="application/json").json()["openapi"].startswith("3.")
    error_of(client.post("/api/schema"), 405)


def test_it_answers_a_missing_key_in_json(client):
    error_of(client.post("/api/v1/route", {"prompt": "hi"}, content_type="application/json"), 401)


@pytest.mark.parametrize("url", ["/api/v1/broken", "/v1/unrenderable"])
def test_it_answers_an_unexpected_exception_in_json_without_details(client, url, caplog):
    response = client.get(url)
    error = error_of(response, 500)
    assert error["type"] == "server_error"
    assert b"secret internals" not in response.content and b"Traceback" not in response.content
    assert any(record.exc_info for record in caplog.records), "the exception is logged"


def test_it_keeps_django_pages_outside_the_api(client):
    missing = client.get("/console/nowhere")
    assert missing.status_code == 404 and missing["Content-Type"].startswith("text/html")
    crashed = client.get("/console/broken")
    assert crashed.status_code == 500 and crashed["Content-Type"].startswith("text/html")
