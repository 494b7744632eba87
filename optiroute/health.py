"""Is this process alive, and can it serve? The checks behind GET /healthz and GET /readyz.

Readiness asks what a routed and answered request needs: the database, the broker (feedback,
batches, the circuit breakers), at least one Celery worker, and the routing state loaded in this
process. Each check is bounded by a short timeout, so a probe never hangs on a dead dependency.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import redis
from django.db import DatabaseError, connection
from kombu.exceptions import OperationalError

from optiroute.broker import PROBE_TIMEOUT_S, broker_client

logger = logging.getLogger(__name__)
WORKER_SEEN_TTL_S = 10.0  # a worker that answered a ping this recently is taken as still there

_worker_seen_at = -float("inf")
_state_loading = threading.Lock()


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def readiness() -> list[Check]:
    return [_database(), _broker(), _worker(), _routing_state()]


def _database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:  # any failure to reach it is "not ready", with its reason
        connection.close()  # a broken connection is not reused by the next request
        return Check("database", False, f"cannot query the database: {_first_line(exc)}")
    return Check("database", True)


def _broker() -> Check:
    client = broker_client()
    if client is None:
        return Check("broker", False, "no broker configured (REDIS_URL)")
    try:
        client.ping()
    except redis.RedisError as exc:
        return Check("broker", False, f"cannot reach the broker: {_first_line(exc)}")
    return Check("broker", True)


def _worker() -> Check:
    global _worker_seen_at
    if time.monotonic() - _worker_seen_at < WORKER_SEEN_TTL_S:
        return Check("worker", True)
    from optiroute.celery import app

    try:
        replies = app.control.ping(timeout=PROBE_TIMEOUT_S)
    except (OSError, OperationalError, redis.RedisError) as exc:  # the broker's failure is reported by _broker
        return Check("worker", False, f"cannot ask for workers: {_first_line(exc)}")
    if not replies:
        return Check("worker", False, "no Celery worker answered a ping")
    _worker_seen_at = time.monotonic()
    return Check("worker", True)


def _routing_state() -> Check:
    from routing.pipeline import routing_state_load, routing_state_loaded

    if routing_state_loaded():
        return Check("routing_state", True)
    if _state_loading.acquire(blocking=False):  # load it in the background; the next probe sees it
        threading.Thread(target=_load_state, args=(routing_state_load,), daemon=True, name="routing-state").start()
    return Check("routing_state", False, "the routing state is loading in this process")


def _load_state(load: object) -> None:
    try:
        load()  # type: ignore[operator]
    except Exception:
        logger.warning("could not load the routing state", exc_info=True)
    finally:
        _state_loading.release()
        connection.close()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
