"""Calling the chosen model: timeouts, retries on retryable errors, fallbacks, circuit breaker.

A fallback is the next-best candidate of the same decision, so it already meets every hard
constraint and the budget; it is never pricier than the best candidate that can be called (the
chosen model, unless that one is known only from evaluation data or lacks credentials) unless
the caller allowed escalation, and every switch is reported to the caller as a notice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from optiroute import metrics
from optiroute.tracing import span
from registry.models import LLM
from routing.engine.request import Candidate
from routing.inference.circuit import breaker
from routing.inference.providers import ChatCall, Completion, Delta, ProviderError, provider_for, unusable_reason


class AllProvidersFailed(ProviderError):
    def __init__(self, attempts: list[dict[str, Any]]) -> None:
        # A cascade's attempts also hold the calls that answered before its escalation failed.
        tried = "; ".join(f"{a['model']}: {a['error']}" for a in attempts if "error" in a) or "no usable model"
        super().__init__(f"no model could answer ({tried})", retryable=False, status=502)
        self.attempts = attempts


@dataclass
class Chain:
    models: list[LLM]
    notices: list[str] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    # Why the first choice did not answer, when the chain moved on from it; '' otherwise.
    fallback_reason: str = ""

    def fall_back(self, reason: str, index: int) -> None:
        """A model could not answer, for `reason`, and models[index] is tried next (if there is one): say so."""
        if index < len(self.models):
            metrics.fallbacks.inc()
            self.notices.append(f"{reason}; falling back to {self.models[index].name}")
            self.fallback_reason = self.fallback_reason or reason


def chain_build(ranking: list[Candidate], *, allow_escalation: bool) -> Chain:
    """The chosen model, then the next-best candidates that can be called, cheapest escalation excluded."""
    chosen = ranking[0]
    chain = Chain(models=[])
    reference: Candidate | None = None  # the best candidate that can be called: fallbacks are not pricier
    for candidate in ranking:
        reason = unusable_reason(candidate.llm)
        if reason:
            chain.attempts.append({"model": candidate.llm.name, "outcome": "skipped", "error": reason})
            continue
        reference = reference or candidate
        if candidate.cost_usd > reference.cost_usd and not allow_escalation:
            chain.attempts.append({"model": candidate.llm.name, "outcome": "skipped",
                                   "error": "pricier than the chosen model (escalation not allowed)"})
            continue
        chain.models.append(candidate.llm)
    if chain.models and chain.models[0] != chosen.llm:
        why = next(a["error"] for a in chain.attempts if a["model"] == chosen.llm.name)
        chain.fall_back(f"routing chose {chosen.llm.name}, which cannot be called ({why})", 0)
    return chain


def _with_retries(llm: LLM, call: ChatCall, attempts: list[dict[str, Any]]) -> Completion:
    provider = provider_for(llm)
    for attempt in range(settings.LLM_MAX_RETRIES + 1):
        started = time.perf_counter()
        try:
            with span("provider.call", model=llm.name, attempt=attempt):
                result = provider.complete(call)
        except ProviderError as exc:
            attempts.append({"model": llm.name, "outcome": "error", "error": exc.message,
                             "ms": round((time.perf_counter() - started) * 1000, 1)})
            _failure_observe(llm, exc, started)
            if breaker.record_failure(llm.id):
                attempts[-1]["circuit"] = "opened"
                metrics.circuits_opened.labels(llm.name).inc()
            if not exc.retryable or attempt == settings.LLM_MAX_RETRIES:
                raise
            metrics.retries.labels(llm.name).inc()
            time.sleep(settings.LLM_RETRY_BACKOFF_S * (2 ** attempt))
            continue
        breaker.record_success(llm.id)
        metrics.provider_seconds.labels(llm.name, "ok").observe(time.perf_counter() - started)
        attempts.append({"model": llm.name, "outcome": "ok", "ms": round((time.perf_counter() - started) * 1000, 1)})
        return result
    raise AssertionError("unreachable")


def _failure_observe(llm: LLM, exc: ProviderError, started: float) -> None:
    metrics.provider_seconds.labels(llm.name, "error").observe(time.perf_counter() - started)
    metrics.provider_errors.labels(llm.name, metrics.error_class(exc.status, exc.message)).inc()


def complete(chain: Chain, call: ChatCall) -> tuple[Completion, LLM]:
    for index, llm in enumerate(chain.models):
        if _circuit_open(chain, llm, index):
            continue
        call.model_id = llm.api_model_id or llm.name
        try:
            return _with_retries(llm, call, chain.attempts), llm
        except ProviderError as exc:
            chain.fall_back(f"{llm.name} failed ({exc.message})", index + 1)
    raise AllProvidersFailed(chain.attempts)


def _circuit_open(chain: Chain, llm: LLM, index: int) -> bool:
    """Skip a model whose circuit opened after routing chose it (routing leaves out the ones open then)."""
    if llm.id not in breaker.open_circuits([llm.id]):
        return False
    chain.attempts.append({"model": llm.name, "outcome": "skipped", "error": "circuit open"})
    chain.fall_back(f"{llm.name} is failing repeatedly (circuit open)", index + 1)
    return True


def stream(chain: Chain, call: ChatCall) -> Iterator[tuple[LLM, Delta]]:
    """Stream from the first model that answers. Once text has reached the caller, a failure
    cannot be undone by switching models: it ends the stream with the error instead."""
    for index, llm in enumerate(chain.models):
        if _circuit_open(chain, llm, index):
            continue
        call.model_id = llm.api_model_id or llm.name
        started = time.perf_counter()
        sent = False
        first_token_ms = None
        try:
            for delta in provider_for(llm).stream(call):
                if delta.content and not sent:
                    first_token_ms = round((time.perf_counter() - started) * 1000, 1)
                    metrics.first_token_seconds.labels(llm.name).observe(first_token_ms / 1000)
                sent = sent or bool(delta.content)
                yield llm, delta
        except ProviderError as exc:
            chain.attempts.append({"model": llm.name, "outcome": "error", "error": exc.message,
                                   "ms": round((time.perf_counter() - started) * 1000, 1)})
            _failure_observe(llm, exc, started)
            if breaker.record_failure(llm.id):
                metrics.circuits_opened.labels(llm.name).inc()
            if sent:
                raise
            chain.fall_back(f"{llm.name} failed ({exc.message})", index + 1)
            continue
        breaker.record_success(llm.id)
        metrics.provider_seconds.labels(llm.name, "ok").observe(time.perf_counter() - started)
        chain.attempts.append({"model": llm.name, "outcome": "ok", "ms": round((time.perf_counter() - started) * 1000, 1),
                               "first_token_ms": first_token_ms})
        return
    raise AllProvidersFailed(chain.attempts)
