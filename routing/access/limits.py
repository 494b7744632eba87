"""Rate limits per API key and per cohort: requests and tokens per minute, answered 429 with
Retry-After when spent.

A key's limits are its own, else OPTIROUTE_RATE_LIMIT_DEFAULT (requests) and
OPTIROUTE_TOKEN_LIMIT_DEFAULT (tokens, none by default); a cohort's, summed over its keys, are
its own, else the same defaults. The counters are fixed windows in the broker's Redis, shared by
every web process. A broker that is down does not stop traffic: limits are then not enforced
(logged), as budgets still are.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.throttling import BaseThrottle

from optiroute import metrics
from optiroute.broker import broker_client
from routing.models import ApiKey

logger = logging.getLogger(__name__)
WINDOW_S = 60
UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)s?\s*$")


def per_minute(rate: str) -> int | None:
    """'600/minute' -> 600; '10/second' -> 600; '' -> None (no limit)."""
    if not rate.strip():
        return None
    match = _RATE.match(rate.lower())
    if match is None:
        raise ValueError(f"a rate reads like '600/minute' (per second, minute, hour or day), not {rate!r}")
    return max(1, math.floor(int(match.group(1)) * WINDOW_S / UNITS[match.group(2)]))


@dataclass(frozen=True)
class Limits:
    requests: int | None
    tokens: int | None


def limits_for(key: ApiKey) -> dict[str, Limits]:
    """The limits that apply to a call made with `key`: its own and its cohort's."""
    requests = per_minute(settings.OPTIROUTE_RATE_LIMIT_DEFAULT)
    tokens = per_minute(settings.OPTIROUTE_TOKEN_LIMIT_DEFAULT)
    cohort = key.cohort
    return {
        f"key:{key.pk}": Limits(_first(key.requests_per_minute, requests), _first(key.tokens_per_minute, tokens)),
        f"cohort:{cohort.pk}": Limits(_first(cohort.requests_per_minute, requests),
                                      _first(cohort.tokens_per_minute, tokens)),
    }


def _first(own: int | None, default: int | None) -> int | None:
    return own if own is not None else default


def _counter(scope: str, kind: str, window: int) -> str:
    return f"optiroute:ratelimit:{scope}:{kind}:{window}"


def request_admit(key: ApiKey) -> None:
    """Count one request against the key's and its cohort's limits; Throttled (429) if one is spent."""
    client = broker_client()
    if client is None:
        return
    now = time.time()
    window = int(now // WINDOW_S)
    retry_after = math.ceil((window + 1) * WINDOW_S - now)
    limits = limits_for(key)
    try:
        pipe = client.pipeline()
        for scope in limits:
            pipe.incr(_counter(scope, "requests", window))
            pipe.expire(_counter(scope, "requests", window), WINDOW_S * 2)
            pipe.get(_counter(scope, "tokens", window))
        replies = pipe.execute()
    except redis.RedisError:
        logger.warning("rate limits not enforced: the broker cannot be reached", exc_info=True)
        return
    for index, (scope, limit) in enumerate(limits.items()):
        made, tokens = int(replies[index * 3]), int(replies[index * 3 + 2] or 0)
        whose = "this API key" if scope.startswith("key:") else f"cohort {key.cohort.name}"
        if limit.requests is not None and made > limit.requests:
            _refuse(f"{whose} is over its limit of {limit.requests} requests a minute", scope, retry_after)
        if limit.tokens is not None and tokens >= limit.tokens:
            _refuse(f"{whose} is over its limit of {limit.tokens} tokens a minute", scope, retry_after)


def _refuse(why: str, scope: str, retry_after: int) -> None:
    metrics.rate_limited.labels(scope.split(":")[0]).inc()
    raise Throttled(wait=retry_after, detail=f"rate limit: {why}; retry in {retry_after} s")


def tokens_spend(key: ApiKey, tokens: int) -> None:
    """Count an answered call's tokens (its prompt and answer) against the token limits."""
    client = broker_client()
    if client is None or tokens <= 0:
        return
    window = int(time.time() // WINDOW_S)
    try:
        pipe = client.pipeline()
        for scope in limits_for(key):
            pipe.incrby(_counter(scope, "tokens", window), tokens)
            pipe.expire(_counter(scope, "tokens", window), WINDOW_S * 2)
        pipe.execute()
    except redis.RedisError:
        logger.warning("tokens not counted against rate limits: the broker cannot be reached", exc_info=True)


class ApiKeyRateThrottle(BaseThrottle):
    """DRF's hook for the limits above; callers signed in by session (the console) are not limited here."""

    def allow_request(self, request: Any, view: Any) -> bool:
        if isinstance(request.auth, ApiKey):
            request_admit(request.auth)
        return True
