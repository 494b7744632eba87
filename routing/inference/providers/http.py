"""HTTP plumbing shared by the HTTP providers: one pooled client per process and one mapping of failures.

urllib3 rather than httpx: a provider call is on every request's path, and urllib3 spends half
the CPU per call (0.28 against 0.54 ms on loopback, measured with scripts/bench_gateway.py's
provider), which on two cores shows up in the gateway's tail latency.
"""

from __future__ import annotations

import codecs
import functools
import os
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast
from urllib.parse import urlsplit

import orjson
import urllib3
from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as TransportTimeout

from routing.inference.providers.base import ChatProvider, ProviderError, status_error

# Thread-safe; a pool of kept-alive connections per host. Retries are ours (routing.inference.chain),
# so urllib3 makes exactly one attempt and never follows a redirect.
_POOL_OPTIONS: dict[str, Any] = {"num_pools": 32, "maxsize": 32, "retries": False}
_direct = urllib3.PoolManager(**_POOL_OPTIONS)
_proxied: dict[str, urllib3.ProxyManager] = {}
_proxied_lock = threading.Lock()
_READ_SIZE = 65536


def _forget_connections() -> None:
    """A forked child (a Celery or web worker) opens its own connections, never its parent's."""
    global _direct, _proxied_lock
    _direct = urllib3.PoolManager(**_POOL_OPTIONS)
    _proxied.clear()
    _proxied_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_connections)


_PROXY_VARIABLES = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY",
                    "no_proxy", "NO_PROXY")


def pool_for(url: str) -> urllib3.PoolManager:
    """The connection pool for a provider URL: through the proxy that HTTPS_PROXY / HTTP_PROXY
    (or ALL_PROXY) name for its scheme unless NO_PROXY exempts its host, as curl, requests and
    httpx do; direct otherwise. A changed environment takes effect at the next call."""
    parts = urlsplit(url)
    proxy = _proxy_for(tuple(map(os.environ.get, _PROXY_VARIABLES)), parts.scheme, parts.hostname or "")
    if proxy is None:
        return _direct
    with _proxied_lock:
        if proxy not in _proxied:
            credentials = urllib3.util.parse_url(proxy).auth  # http://user:password@proxy:3128
            headers = urllib3.make_headers(proxy_basic_auth=credentials) if credentials else None
            _proxied[proxy] = urllib3.ProxyManager(proxy, proxy_headers=headers, **_POOL_OPTIONS)
        return _proxied[proxy]


@functools.lru_cache(maxsize=256)
def _proxy_for(environment: tuple[str | None, ...], scheme: str, host: str) -> str | None:
    """Memoised on the proxy variables' values: reading the whole environment costs 40 us a call."""
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme) or proxies.get("all")
    return None if not proxy or urllib.request.proxy_bypass(host) else proxy


class ProviderResponse:
    """A provider's answer: its status and either its whole body or, when streamed, its lines."""

    def __init__(self, raw: urllib3.HTTPResponse) -> None:
        self.raw = raw
        self.status_code = raw.status

    def json(self) -> Any:
        return orjson.loads(self.raw.data)

    def text(self) -> str:
        return self.raw.data.decode(errors="replace")

    def iter_lines(self) -> Iterator[str]:
        """The streamed body line by line as it arrives, split on \\n, \\r\\n or \\r (as SSE allows)."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        while chunk := self.raw.read1(_READ_SIZE):
            pending += decoder.decode(chunk)
            # A trailing \r may be the first half of \r\n: keep it until the next chunk.
            complete, pending = (pending[:-1], "\r") if pending.endswith("\r") else (pending, "")
            lines = complete.splitlines(keepends=True)
            if lines and not lines[-1].endswith(("\n", "\r")):
                pending = lines.pop() + pending
            yield from (line.rstrip("\r\n") for line in lines)
        pending += decoder.decode(b"", final=True)
        yield from pending.splitlines()


# How long a finished stream may take to end (the closing chunk after [DONE]) for its
# connection to be kept: the caller's last event waits for it.
STREAM_END_GRACE_S = 0.25


def _drain(raw: urllib3.HTTPResponse) -> None:
    """Read what is left of a stream its consumer finished (at [DONE]) so that its connection,
    and with it a TLS session, serves the next call; closed instead when the rest is not quick."""
    if raw.isclosed():
        return
    sock = getattr(raw.connection, "sock", None)
    if sock is not None:
        sock.settimeout(STREAM_END_GRACE_S)  # the next request on it sets its own again
        raw.drain_conn()
    if not raw.isclosed():
        raw.close()


class HttpChatProvider(ChatProvider):
    """A provider reached over HTTP: subclasses give the headers and bodies, this maps failures."""

    def _headers(self) -> dict[str, str]:
        return {}

    def _url(self, path: str) -> str:
        return f"{self.provider.base_url.rstrip('/')}/{path}"

    def _request(self, path: str, body: dict[str, Any], timeout_s: float, *, stream: bool) -> ProviderResponse:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json",
                   **self._headers()}
        url = self._url(path)
        raw = pool_for(url).request("POST", url, body=orjson.dumps(body), headers=headers,
                            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s), preload_content=not stream)
        return ProviderResponse(cast(urllib3.HTTPResponse, raw))

    def _post(self, path: str, body: dict[str, Any], timeout_s: float) -> ProviderResponse:
        with self._errors(timeout_s):
            response = self._request(path, body, timeout_s, stream=False)
        if response.status_code >= 400:
            raise status_error(response.status_code, response.text(), self.provider.name)
        return response

    @contextmanager
    def _open_stream(self, path: str, body: dict[str, Any], timeout_s: float) -> Iterator[ProviderResponse]:
        with self._errors(timeout_s):
            response = self._request(path, body, timeout_s, stream=True)
            try:
                if response.status_code >= 400:
                    raise status_error(response.status_code, response.raw.read().decode(errors="replace"),
                                       self.provider.name)
                yield response
            except BaseException:
                response.raw.close()  # given up or failed mid-answer: never handed to the next call
                raise
            else:
                _drain(response.raw)
            finally:
                response.raw.release_conn()

    @contextmanager
    def _errors(self, timeout_s: float) -> Iterator[None]:
        try:
            yield
        except NewConnectionError as exc:  # urllib3 files it under timeouts, refused or unresolved alike
            raise ProviderError(f"{self.provider.name} connection failed: {exc}", retryable=True) from exc
        except TransportTimeout as exc:
            raise ProviderError(f"{self.provider.name} timed out after {timeout_s:g} s", retryable=True) from exc
        except (TransportError, OSError) as exc:
            raise ProviderError(f"{self.provider.name} connection failed: {type(exc).__name__}",
                                retryable=True) from exc
