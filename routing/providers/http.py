"""HTTP plumbing shared by the HTTP providers: pooled clients and one mapping of failures."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from routing.providers.base import ChatProvider, ProviderError, status_error

_clients: dict[str, httpx.Client] = {}
_lock = threading.Lock()


def client_for(base_url: str) -> httpx.Client:
    with _lock:
        if base_url not in _clients:
            _clients[base_url] = httpx.Client(base_url=base_url.rstrip("/") + "/",
                                              limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))
        return _clients[base_url]


class HttpChatProvider(ChatProvider):
    """A provider reached over HTTP: subclasses give the headers and bodies, this maps failures."""

    def _headers(self) -> dict[str, str]:
        return {}

    def _post(self, path: str, body: dict[str, Any], timeout_s: float) -> httpx.Response:
        with self._errors(timeout_s):
            response = client_for(self.provider.base_url).post(path, json=body, headers=self._headers(),
                                                                timeout=timeout_s)
        if response.status_code >= 400:
            raise status_error(response.status_code, response.text, self.provider.name)
        return response

    @contextmanager
    def _open_stream(self, path: str, body: dict[str, Any], timeout_s: float) -> Iterator[httpx.Response]:
        with self._errors(timeout_s), client_for(self.provider.base_url).stream(
                "POST", path, json=body, headers=self._headers(), timeout=timeout_s) as response:
            if response.status_code >= 400:
                raise status_error(response.status_code, response.read().decode(errors="replace"), self.provider.name)
            yield response

    @contextmanager
    def _errors(self, timeout_s: float) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as exc:
            raise ProviderError(f"{self.provider.name} timed out after {timeout_s:g} s", retryable=True) from exc
        except httpx.HTTPError as exc:
            raise ProviderError(f"{self.provider.name} connection failed: {type(exc).__name__}",
                                retryable=True) from exc
