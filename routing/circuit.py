"""A circuit breaker per model, its state in Redis so every process and worker shares it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import redis
from django.conf import settings

logger = logging.getLogger(__name__)
_client: redis.Redis | None = None
_lock = threading.Lock()


def _redis() -> redis.Redis | None:
    global _client
    with _lock:
        if _client is None and settings.REDIS_URL:
            url = settings.REDIS_URL.replace("redis+socket://", "unix://", 1)
            _client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return _client


def _fail_key(llm_id: int) -> str:
    return f"optiroute:circuit:failures:{llm_id}"


def _open_key(llm_id: int) -> str:
    return f"optiroute:circuit:open:{llm_id}"


def open_circuits(llm_ids: Iterable[int]) -> frozenset[int]:
    """Models whose circuit is open now; when Redis is down, none (fail open, logged)."""
    ids = list(llm_ids)
    client = _redis()
    if client is None or not ids:
        return frozenset()
    try:
        flags = client.mget([_open_key(i) for i in ids])
    except redis.RedisError:
        logger.warning("circuit breaker state unavailable; treating every circuit as closed")
        return frozenset()
    return frozenset(i for i, flag in zip(ids, flags, strict=True) if flag)


def record_failure(llm_id: int) -> bool:
    """Count a failure; open the circuit when the window holds too many. True when it opened."""
    client = _redis()
    if client is None:
        return False
    try:
        pipe = client.pipeline()
        pipe.incr(_fail_key(llm_id))
        pipe.expire(_fail_key(llm_id), settings.CIRCUIT_WINDOW_S, nx=True)
        failures = int(pipe.execute()[0])
        if failures >= settings.CIRCUIT_FAILURES:
            client.set(_open_key(llm_id), failures, ex=settings.CIRCUIT_COOLDOWN_S)
            client.delete(_fail_key(llm_id))
            return True
    except redis.RedisError:
        logger.warning("could not record a failure in the circuit breaker")
    return False


def record_success(llm_id: int) -> None:
    client = _redis()
    if client is None:
        return
    try:
        client.delete(_fail_key(llm_id))
    except redis.RedisError:
        logger.warning("could not reset the circuit breaker")


def reset(llm_id: int) -> None:
    client = _redis()
    if client is not None:
        client.delete(_fail_key(llm_id), _open_key(llm_id))
