"""OpenAI-compatible chat completions: OpenAI, vLLM, Ollama, llama.cpp server, Together, Groq, OpenRouter..."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from routing.inference.providers.base import ChatCall, Completion, Delta, ProviderError
from routing.inference.providers.http import HttpChatProvider, ProviderResponse


class OpenAICompatibleProvider(HttpChatProvider):
    def _headers(self) -> dict[str, str]:
        key = self.provider.api_key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _body(self, call: ChatCall, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": call.model_id, "messages": call.messages, "stream": stream, **call.extra}
        if call.max_tokens is not None:
            body["max_tokens"] = call.max_tokens
        if call.temperature is not None:
            body["temperature"] = call.temperature
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    def complete(self, call: ChatCall) -> Completion:
        response = self._post("chat/completions", self._body(call, False), call.timeout_s)
        try:
            data = response.json()
            choice = data["choices"][0]
            usage = data.get("usage") or {}
            return Completion(content=choice["message"]["content"] or "",
                              finish_reason=choice.get("finish_reason") or "stop",
                              input_tokens=int(usage.get("prompt_tokens", 0)),
                              output_tokens=int(usage.get("completion_tokens", 0)))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ProviderError(f"{self.provider.name} sent a malformed response", retryable=False) from exc

    def stream(self, call: ChatCall) -> Iterator[Delta]:
        with self._open_stream("chat/completions", self._body(call, True), call.timeout_s) as response:
            yield from self._events(response)

    def _events(self, response: ProviderResponse) -> Iterator[Delta]:
        finish: str | None = None
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                yield Delta(finish_reason=finish or "stop")
                return
            try:
                chunk = json.loads(payload)
            except ValueError as exc:
                raise ProviderError(f"{self.provider.name} sent a malformed stream event", retryable=False) from exc
            usage = chunk.get("usage") or {}
            for choice in chunk.get("choices") or []:
                finish = choice.get("finish_reason") or finish
                text = (choice.get("delta") or {}).get("content") or ""
                if text:
                    yield Delta(content=text)
            if usage:
                yield Delta(input_tokens=usage.get("prompt_tokens"), output_tokens=usage.get("completion_tokens"))
        raise ProviderError(f"{self.provider.name} ended the stream before [DONE]", retryable=True)
