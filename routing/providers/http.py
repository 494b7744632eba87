"""Pooled HTTP clients, one per provider base URL, shared by the threads of a process."""

from __future__ import annotations

import threading

import httpx

_clients: dict[str, httpx.Client] = {}
_lock = threading.Lock()


def client_for(base_url: str) -> httpx.Client:
    with _lock:
        if base_url not in _clients:
            _clients[base_url] = httpx.Client(base_url=base_url.rstrip("/") + "/",
                                              limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))
        return _clients[base_url]
