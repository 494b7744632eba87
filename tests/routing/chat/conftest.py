import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def member(client):
    """A signed-in person of the default cohort."""
    user = get_user_model().objects.create_user("ada", password="pw-ada-123")
    client.force_login(user)
    return user


@pytest.fixture
def strong_and_cheap():
    """Two callable models on a local OpenAI-protocol server: "strong" (better, 100x the price) and
    "cheap". Quality-first routing picks strong; the cost slider at 1 picks cheap."""
    from registry.models import LLM, Provider
    from tests.openai_server import FakeOpenAIServer

    server = FakeOpenAIServer().start()
    record = Provider.objects.create(name="localai", kind="openai", base_url=server.url, api_key_env="")
    for name, price, score in [("strong", 10.0, 0.95), ("cheap", 0.1, 0.55)]:
        LLM.objects.create(name=name, provider=record, api_model_id="fake-ok", input_price_per_mtok=price,
                           output_price_per_mtok=price, context_window=32000, is_generalist=True, license="apache-2.0",
                           benchmarks=[{"name": "b", "score": score, "task_type": "", "source": "test"}])
    yield server
    server.shutdown()
