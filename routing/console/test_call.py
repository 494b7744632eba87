"""A model's test call from the console: one short request to that model, no routing."""

from __future__ import annotations

import time
from dataclasses import dataclass

from registry.models import LLM
from routing.inference.providers import ChatCall, ProviderError, provider_for, unusable_reason

PROMPT = "Reply with one short sentence: which model are you?"


@dataclass
class TestCall:
    answer: str = ""
    error: str = ""
    latency_ms: float | None = None
    cost_usd: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0


def llm_test_call(*, llm: LLM) -> TestCall:
    if reason := unusable_reason(llm):
        return TestCall(error=f"{llm.name} cannot be called: {reason}")
    started = time.perf_counter()
    try:
        done = provider_for(llm).complete(ChatCall(model_id=llm.api_model_id or llm.name, max_tokens=64,
                                                   messages=[{"role": "user", "content": PROMPT}], timeout_s=20.0))
    except ProviderError as exc:
        return TestCall(error=exc.message, latency_ms=(time.perf_counter() - started) * 1000)
    return TestCall(answer=done.content, latency_ms=(time.perf_counter() - started) * 1000,
                    cost_usd=llm.estimated_cost_usd(done.input_tokens, done.output_tokens),
                    input_tokens=done.input_tokens, output_tokens=done.output_tokens)
