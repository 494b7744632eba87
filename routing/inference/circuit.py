"""A circuit breaker per model, its state in Redis so every process and worker shares it.

Failures are counted in Redis per model within a window; the Nth opens the model's circuit
until a cooldown ends, as an entry of one sorted set (model id -> when it closes). Each
process reads that set at most every SYNC_SECONDS and answers "is it open?" from memory, so
a routed call costs no Redis round trip on the way: another process's opened circuit is seen
within SYNC_SECONDS, the process's own at once, and a cooldown ends on time everywhere.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import cast

import redis
from django.conf import settings

logger = logging.getLogger(__name__)
OPEN_KEY = "optiroute:circuit:open"
SYNC_SECONDS = 0.5


def _fail_key(llm_id: int) -> str:
    return f"optiroute:circuit:failures:{llm_id}"


class CircuitBreaker:
    def __init__(self) -> None:
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()
        self._open_until: dict[int, float] = {}  # llm id -> unix time its circuit closes, as last read
        self._synced_at = -1.0
        self._failed_at: dict[int, float] = {}  # llm id -> this process's last recorded failure

    def _redis(self) -> redis.Redis | None:
        with self._lock:
            if self._client is None and settings.REDIS_URL:
                url = settings.REDIS_URL.replace("redis+socket://", "unix://", 1)
                self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
            return self._client

    def open_circuits(self, llm_ids: Iterable[int]) -> frozenset[int]:
        """Models whose circuit is open now; when Redis is down, none (fail open, logged)."""
        now = time.time()
        until = self._open_view(now)
        return frozenset(i for i in llm_ids if until.get(i, 0.0) > now)

    def _open_view(self, now: float) -> dict[int, float]:
        if now - self._synced_at < SYNC_SECONDS:
            return self._open_until
        client = self._redis()
        if client is None:
            return {}
        with self._lock:
            if now - self._synced_at < SYNC_SECONDS:  # another thread synced meanwhile
                return self._open_until
            try:
                rows = client.zrangebyscore(OPEN_KEY, now, "+inf", withscores=True)
            except redis.RedisError:
                logger.warning("circuit breaker state unavailable; treating every circuit as closed")
                rows = []
            self._open_until = {int(member): float(until) for member, until in cast(list[tuple[bytes, float]], rows)}
            self._synced_at = now
            return self._open_until

    def record_failure(self, llm_id: int) -> bool:
        """Count a failure; open the circuit when the window holds too many. True when it opened."""
        self._failed_at[llm_id] = time.time()
        client = self._redis()
        if client is None:
            return False
        try:
            pipe = client.pipeline()
            pipe.incr(_fail_key(llm_id))
            pipe.expire(_fail_key(llm_id), settings.CIRCUIT_WINDOW_S, nx=True)
            failures = int(pipe.execute()[0])
            if failures < settings.CIRCUIT_FAILURES:
                return False
            now = time.time()
            until = now + settings.CIRCUIT_COOLDOWN_S
            pipe = client.pipeline()
            pipe.zadd(OPEN_KEY, {str(llm_id): until})
            pipe.zremrangebyscore(OPEN_KEY, "-inf", now)  # circuits closed since
            pipe.delete(_fail_key(llm_id))
            pipe.execute()
        except redis.RedisError:
            logger.warning("could not record a failure in the circuit breaker")
            return False
        with self._lock:  # copy on write: readers may be iterating the current view
            self._open_until = {**self._open_until, llm_id: until}
        return True

    def record_success(self, llm_id: int) -> None:
        """A success ends a run of failures. Only a model this process saw fail within the window
        costs a round trip: the failure count of a healthy model is already zero."""
        failed = self._failed_at.get(llm_id)
        if failed is None or time.time() - failed > settings.CIRCUIT_WINDOW_S:
            return
        self._failed_at.pop(llm_id, None)
        client = self._redis()
        if client is None:
            return
        try:
            client.delete(_fail_key(llm_id))
        except redis.RedisError:
            logger.warning("could not reset the circuit breaker")

    def reset(self, llm_id: int | None = None) -> None:
        """Close one model's circuit (or every circuit) and forget its failures, here and in Redis."""
        client = self._redis()
        if client is not None:
            if llm_id is None:
                client.delete(OPEN_KEY, *client.scan_iter("optiroute:circuit:failures:*"))
            else:
                client.delete(_fail_key(llm_id))
                client.zrem(OPEN_KEY, str(llm_id))
        with self._lock:
            if llm_id is None:
                self._open_until = {}
                self._failed_at.clear()
            else:
                self._open_until = {k: v for k, v in self._open_until.items() if k != llm_id}
                self._failed_at.pop(llm_id, None)
            self._synced_at = -1.0


breaker = CircuitBreaker()
