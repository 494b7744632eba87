"""Batches' shared parts: two callable models on the local OpenAI-protocol server, requests, waiting."""

from typing import Any

import pytest

from tests.conftest import wait_until


@pytest.fixture
def provider(cheap_and_pricey: Any) -> Any:
    """The local server behind "cheap" ($0.1 per million tokens) and "pricey"; each answer is 12 + 6 tokens."""
    return cheap_and_pricey


ANSWER_COST = 18 * 0.1 / 1e6  # an answer of "cheap"


def requests_for(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"custom_id": f"q{i}", "messages": [{"role": "user", "content": f"Summarise report number {i}."}]}
            for i in range(start, start + n)]


def summary(api: Any, batch_id: str) -> dict[str, Any]:
    return api.get(f"/api/v1/batches/{batch_id}").json()


def wait_for(api: Any, batch_id: str, *statuses: str) -> dict[str, Any]:
    wait_until(lambda: summary(api, batch_id)["status"] in statuses, 300)
    return summary(api, batch_id)
