"""The one interface every provider implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from registry.models import LLM


@dataclass
class ChatCall:
    model_id: str
    messages: list[dict[str, str]]
    max_tokens: int | None = None
    temperature: float | None = None
    timeout_s: float = 30.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Completion:
    content: str
    finish_reason: str = "stop"
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Delta:
    """A piece of a streamed answer; the last one carries finish_reason and, when known, usage."""

    content: str = ""
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


class ProviderError(Exception):
    """A failed provider call. `retryable`: the same call may succeed if tried again."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status


class ChatProvider(ABC):
    def __init__(self, llm: LLM) -> None:
        self.llm = llm
        self.provider = llm.provider

    @abstractmethod
    def complete(self, call: ChatCall) -> Completion: ...

    @abstractmethod
    def stream(self, call: ChatCall) -> Iterator[Delta]: ...


def status_error(status: int, body: str, provider: str) -> ProviderError:
    """Map an HTTP error status to a ProviderError; 408, 409, 429 and 5xx are worth retrying."""
    retryable = status in (408, 409, 429) or status >= 500
    snippet = body[:200].replace("\n", " ")
    return ProviderError(f"{provider} answered HTTP {status}: {snippet}", retryable=retryable, status=status)
