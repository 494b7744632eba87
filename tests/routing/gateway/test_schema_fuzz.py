"""The OpenAPI schema tells the truth: schemathesis sends a running server what the schema describes,
and every answer is a documented status, in the documented content type and shape, never a 5xx."""

import pytest
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)  # a live server reads committed rows
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# The budget: 25 generated requests per operation, none shrunk after a failure, so that the run
# stays within a couple of minutes; the requests are the same on every run (derandomize).
BUDGET = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
# A request that hangs fails the run instead of holding it.
REQUEST_TIMEOUT_S = 60
ASK = [{"role": "user", "content": "Write a Python function that reverses a list."}]


@pytest.fixture
def known(api, fake_provider, write_bundle):
    """Evidence to route on, and what the key may look up: a batch and an answered chat completion.
    Model and profile names, batch and decision ids are data, not schema: a random one is a 400 or 404."""
    call_command("import_evaluations", str(write_bundle()), "--dataset", "bundle")
    batch = api.post("/api/v1/batches", {"requests": [{"messages": ASK}]}, format="json")
    chat = api.post("/v1/chat/completions", {"model": "optiroute/auto", "messages": ASK}, format="json")
    assert (batch.status_code, chat.status_code) == (202, 200), (batch.content, chat.content)
    return {"model": "optiroute/auto", "profile": "balanced", "batch_id": batch.json()["id"],
            "decision_id": chat.json()["optiroute"]["decision_id"]}


def with_known(value, known):
    """The value with every string under a key of `known` replaced by the known one."""
    if isinstance(value, dict):
        return {k: known[k] if k in known and isinstance(v, str) else with_known(v, known) for k, v in value.items()}
    return value


def test_it_keeps_to_its_schema(live_server, key, known):
    # Schemathesis leaves out the operation it loads the schema from.
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")
    headers = {"Authorization": f"Bearer {key[1]}"}
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5, [operation.label for operation in operations]
    for operation in operations:

        # Half the requests name known things, so that they get past the lookups to routing, the
        # model's answer and the found batch or decision.
        @BUDGET
        @given(case=operation.as_strategy(), use_known=st.booleans())
        def fuzz(case, use_known):
            if use_known:
                case.body = with_known(case.body, known)
                case.path_parameters = with_known(case.path_parameters, known)
            case.call_and_validate(base_url=live_server.url, headers=headers, checks=CHECKS, timeout=REQUEST_TIMEOUT_S)

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - fuzz every operation, report each failure
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
