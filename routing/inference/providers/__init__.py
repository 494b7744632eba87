"""Providers: one module each. To add one, see CONTRIBUTING.md."""

from __future__ import annotations

from registry.models import LLM, Provider
from routing.inference.providers.anthropic import AnthropicProvider
from routing.inference.providers.base import ChatCall, ChatProvider, Completion, Delta, ProviderError
from routing.inference.providers.local import LocalProvider, missing_reason
from routing.inference.providers.openai_compat import OpenAICompatibleProvider

PROVIDER_CLASSES: dict[str, type[ChatProvider]] = {
    Provider.Kind.OPENAI: OpenAICompatibleProvider,
    Provider.Kind.ANTHROPIC: AnthropicProvider,
    Provider.Kind.LOCAL: LocalProvider,
}


def provider_for(llm: LLM) -> ChatProvider:
    cls = PROVIDER_CLASSES.get(llm.provider.kind)
    if cls is None:
        raise ProviderError(f"{llm.name} is known only from evaluation data; no API serves it", retryable=False)
    return cls(llm)


def unusable_reason(llm: LLM) -> str:
    """Why this model cannot be called now ('' when it can): credentials are checked, never logged."""
    provider = llm.provider
    if provider.kind == Provider.Kind.EVALUATION:
        return "known only from evaluation data"
    if provider.kind == Provider.Kind.LOCAL:
        return missing_reason(llm.api_model_id or llm.name)
    if not provider.base_url:
        return f"provider {provider.name} has no base URL"
    if provider.api_key_env and not provider.api_key():
        return f"no credentials: {provider.api_key_env} is not set"
    return ""


__all__ = ["ChatCall", "ChatProvider", "Completion", "Delta", "ProviderError", "provider_for", "unusable_reason"]
