"""Anthropic's Messages API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from routing.inference.providers.base import ChatCall, Completion, Delta, ProviderError
from routing.inference.providers.http import HttpChatProvider, ProviderResponse

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024  # the Messages API requires max_tokens


class AnthropicProvider(HttpChatProvider):
    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self.provider.api_key(), "anthropic-version": API_VERSION}

    def _body(self, call: ChatCall, stream: bool) -> dict[str, Any]:
        system = "\n\n".join(m["content"] for m in call.messages if m["role"] in ("system", "developer"))
        turns = [{"role": m["role"], "content": m["content"]} for m in call.messages if m["role"] in ("user", "assistant")]
        body: dict[str, Any] = {"model": call.model_id, "messages": turns, "stream": stream,
                                "max_tokens": call.max_tokens or DEFAULT_MAX_TOKENS}
        if system:
            body["system"] = system
        if call.temperature is not None:
            body["temperature"] = min(call.temperature, 1.0)
        return body

    def complete(self, call: ChatCall) -> Completion:
        response = self._post("v1/messages", self._body(call, False), call.timeout_s)
        try:
            data = response.json()
            text = "".join(block.get("text", "") for block in data["content"] if block.get("type") == "text")
            usage = data.get("usage") or {}
            return Completion(content=text, finish_reason=_finish(data.get("stop_reason")),
                              input_tokens=int(usage.get("input_tokens", 0)),
                              output_tokens=int(usage.get("output_tokens", 0)))
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError(f"{self.provider.name} sent a malformed response", retryable=False) from exc

    def stream(self, call: ChatCall) -> Iterator[Delta]:
        with self._open_stream("v1/messages", self._body(call, True), call.timeout_s) as response:
            yield from self._events(response)

    def _events(self, response: ProviderResponse) -> Iterator[Delta]:
        input_tokens = output_tokens = 0
        finish = "stop"
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            try:
                event = json.loads(line[5:].strip())
            except ValueError as exc:
                raise ProviderError(f"{self.provider.name} sent a malformed stream event", retryable=False) from exc
            kind = event.get("type")
            if kind == "message_start":
                input_tokens = int(event["message"].get("usage", {}).get("input_tokens", 0))
            elif kind == "content_block_delta" and event["delta"].get("type") == "text_delta":
                yield Delta(content=event["delta"]["text"])
            elif kind == "message_delta":
                output_tokens = int(event.get("usage", {}).get("output_tokens", output_tokens))
                finish = _finish(event.get("delta", {}).get("stop_reason"))
            elif kind == "message_stop":
                yield Delta(finish_reason=finish, input_tokens=input_tokens, output_tokens=output_tokens)
                return
            elif kind == "error":
                raise ProviderError(f"{self.provider.name} stream error: {event.get('error', {}).get('message', '')}",
                                    retryable=True)
        raise ProviderError(f"{self.provider.name} ended the stream early", retryable=True)


def _finish(stop_reason: str | None) -> str:
    return "length" if stop_reason == "max_tokens" else "stop"
