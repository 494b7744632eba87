"""A call is answered by the model it names: the local provider serves only the models it has
(SmolLM2-135M-Instruct), never another model registered as local under that model's name and price."""

import json

import pytest

from registry.models import LLM
from routing.batches.services import batch_run
from routing.inference.providers import ChatCall, ProviderError, provider_for, unusable_reason
from routing.inference.providers.local import missing_reason
from routing.models import Batch, Decision, Usage
from tests.routing.inference.test_local_model import SHORT

pytestmark = pytest.mark.django_db
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
MISSING = "the local provider has no model 'local-llama-70b'; it serves only smollm2-135m-instruct"


@pytest.fixture
def impostor(keyless_api):
    """A model registered as local that the local provider does not have: dear, and better reviewed than SmolLM2
    on everything SmolLM2 was reviewed on."""
    smollm2 = LLM.objects.get(name="smollm2-135m-instruct")
    return LLM.objects.create(name="local-llama-70b", provider=smollm2.provider, input_price_per_mtok=50.0,
                              output_price_per_mtok=150.0, context_window=128000, capabilities=smollm2.capabilities,
                              is_generalist=True, benchmarks=[{**b, "score": 0.99} for b in smollm2.benchmarks])


def chat(client, model, **body):
    return client.post("/v1/chat/completions", {"model": model, **SHORT, "messages": QUESTION, **body}, format="json")


def test_a_local_model_the_provider_does_not_have_cannot_be_called(impostor):
    assert unusable_reason(impostor) == MISSING
    assert unusable_reason(LLM.objects.get(name="smollm2-135m-instruct")) == ""
    assert missing_reason("HuggingFaceTB/SmolLM2-135M-Instruct") == missing_reason("smollm2-135m-instruct") == ""
    with pytest.raises(ProviderError, match="has no model 'local-llama-70b'"):
        provider_for(impostor).complete(ChatCall(model_id=impostor.name, messages=QUESTION))


def test_models_lists_it_as_not_callable(keyless_api, impostor):
    listed = {m["id"]: m for m in keyless_api.get("/v1/models").json()["data"]}
    assert listed["local-llama-70b"]["optiroute"] == {"callable": False}
    assert listed["smollm2-135m-instruct"]["optiroute"] == {"callable": True}


def test_naming_it_is_a_clear_error_never_smollm2_under_its_name(keyless_api, impostor):
    response = chat(keyless_api, "local-llama-70b")
    assert response.status_code == 502
    assert MISSING in response.json()["error"]["message"]
    assert not Usage.objects.exists()


def test_naming_it_in_a_stream_is_a_clear_error(keyless_api, impostor):
    response = chat(keyless_api, "local-llama-70b", stream=True)
    events = [json.loads(e[6:]) for e in b"".join(response.streaming_content).decode().split("\n\n")
              if e and e != "data: [DONE]"]
    assert [e["error"]["type"] for e in events] == ["upstream_failed"]
    assert MISSING in events[0]["error"]["message"]
    assert not Usage.objects.exists()


def test_routing_to_it_falls_back_to_smollm2_billed_as_smollm2(keyless_api, impostor):
    body = chat(keyless_api, "optiroute/quality-first", optiroute={"constraints": {"local_only": True}}).json()
    assert body["optiroute"]["chosen_model"] == "local-llama-70b"
    assert body["model"] == body["optiroute"]["model"] == "smollm2-135m-instruct"
    assert body["choices"][0]["message"]["content"].strip()
    assert MISSING in body["optiroute"]["fallback_reason"]
    usage = Usage.objects.get(decision_id=body["optiroute"]["decision_id"])
    assert usage.llm.name == "smollm2-135m-instruct" and usage.cost_usd == body["optiroute"]["cost_usd"] == 0.0
    assert Decision.objects.get(pk=body["optiroute"]["decision_id"]).answered_by.name == "smollm2-135m-instruct"


def test_a_batch_naming_it_fails_with_the_reason(keyless_api, impostor):
    response = keyless_api.post("/api/v1/batches", {"model": "local-llama-70b", "requests": [{"messages": QUESTION}]},
                                format="json")
    assert response.status_code == 202, response.content
    batch_run(batch_id=response.json()["id"])
    batch = Batch.objects.get(pk=response.json()["id"])
    assert batch.status == Batch.Status.FAILED and MISSING in batch.error
    assert not Usage.objects.exists()
