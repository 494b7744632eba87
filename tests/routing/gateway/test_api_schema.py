"""GET /api/schema/ states the limits the API validates (test_schema_fuzz.py holds the server to it)."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    return client.get("/api/schema/?format=json").json()


def body_of(schema, path):
    ref = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_it_says_what_a_request_needs(schema):
    route = body_of(schema, "/api/v1/route")
    assert [branch["required"] for branch in route["anyOf"]] == [["prompt"], ["messages"]]
    chat = body_of(schema, "/v1/chat/completions")
    assert set(chat["required"]) == {"model", "messages"} and chat["properties"]["messages"]["minItems"] == 1
    assert chat["properties"]["messages"]["contains"]["properties"]["role"]["enum"] == ["system", "developer", "user"]
    batches = body_of(schema, "/api/v1/batches")["properties"]["requests"]
    assert (batches["minItems"], batches["maxItems"]) == (1, 10_000)
    bodies = [operation["requestBody"] for methods in schema["paths"].values()
              for operation in methods.values() if "requestBody" in operation]
    assert len(bodies) >= 3 and all(body["required"] for body in bodies)


def test_it_refuses_unknown_options_and_bounds_the_sliders(schema):
    components = schema["components"]["schemas"]
    for name in ("Preferences", "Constraints"):
        assert components[name]["additionalProperties"] is False
    sliders = components["Preferences"]["properties"]
    assert {"cost", "accuracy"} <= set(sliders)
    assert all((s["minimum"], s["maximum"]) == (0.0, 1.0) for s in sliders.values())
    assert components["StrategyEnum"]["enum"] == ["cosine", "knn", "learned"]
    assert set(components["RoleEnum"]["enum"]) == {"system", "developer", "user", "assistant", "tool"}


def test_it_documents_the_answers_and_the_error_shape(schema):
    paths = schema["paths"]
    assert set(paths["/api/v1/batches"]["post"]["responses"]) == {"202", "400", "401", "403", "404", "413", "415"}
    assert set(paths["/api/v1/batches/{batch_id}/items"]["post"]["requestBody"]["content"]) == {
        "application/json", "multipart/form-data"}
    assert set(paths["/v1/chat/completions"]["post"]["responses"]["200"]["content"]) == {
        "application/json", "text/event-stream"}
    errors = [response for methods in paths.values() for operation in methods.values()
              for status, response in operation["responses"].items() if status.startswith("4")]
    assert len(errors) >= 6  # the batches endpoint's alone
    for response in errors:
        assert response["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    assert set(schema["components"]["schemas"]["ErrorBody"]["required"]) == {"message", "type", "code"}
