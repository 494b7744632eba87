"""A Redis client of the broker, for what OptiRoute keeps there besides Celery's queues (rate
limit counters, readiness probes, the queue depth): one per process and URL, with short timeouts
so that a broker that is down costs a request at most PROBE_TIMEOUT_S."""

from __future__ import annotations

import threading

import redis
from django.conf import settings

PROBE_TIMEOUT_S = 1.0
_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def broker_client() -> redis.Redis | None:
    """None when there is no Redis broker (the in-memory one of a bare test run)."""
    if not settings.REDIS_URL:
        return None
    with _lock:
        if settings.REDIS_URL not in _clients:
            url = settings.REDIS_URL.replace("redis+socket://", "unix://", 1)
            _clients[settings.REDIS_URL] = redis.Redis.from_url(
                url, socket_timeout=PROBE_TIMEOUT_S, socket_connect_timeout=PROBE_TIMEOUT_S)
        return _clients[settings.REDIS_URL]
