"""When routing chooses a model that cannot be called, the best candidate that can answers: the rule
against pricier fallbacks measures from it, not from a model that was never going to be called."""

import pytest

from registry.models import LLM, Provider

pytestmark = pytest.mark.django_db
ASK = [{"role": "user", "content": "Say hello to the team."}]


@pytest.fixture
def cheap_but_uncallable(fake_provider):
    evaluation = Provider.objects.create(name="bench", kind=Provider.Kind.EVALUATION)
    LLM.objects.create(name="bench-only", provider=evaluation, input_price_per_mtok=0.01, output_price_per_mtok=0.01,
                       context_window=200_000, is_generalist=True,
                       benchmarks=[{"name": "b", "score": 0.95, "task_type": "", "source": "test"}])


def test_the_best_callable_model_answers_when_the_choice_cannot_be_called(cheap_but_uncallable, api):
    response = api.post("/v1/chat/completions", {"model": "optiroute/cost-effective", "messages": ASK}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["optiroute"]["chosen_model"] == "bench-only" and body["model"] == "fake-ok"
    assert any("routing chose bench-only, which cannot be called" in n for n in body["optiroute"]["notices"])


def test_a_request_only_uncallable_models_fit_is_refused_not_a_gateway_error(cheap_but_uncallable, api):
    # fake-ok's context window is 32,000 tokens; only the evaluation-only model takes 100,000.
    response = api.post("/v1/chat/completions", {"model": "optiroute/auto", "messages": ASK, "max_tokens": 100_000},
                        format="json")
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "no_model_fits" and "bench-only" in error["message"]
    assert "context window" in error["details"]["excluded"]["fake-ok"]
