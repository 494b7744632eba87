"""Sign-in throttling for the admin and the chat's sign-in page: after SIGNIN_MAX_FAILURES failed
attempts for one account from one address (or SIGNIN_MAX_FAILURES_PER_ADDRESS for any account)
within SIGNIN_WINDOW_S, further attempts are refused, even with the right password, until the
window ends. Counted in the broker's Redis; when it is down, sign-in works unthrottled (logged)."""

from __future__ import annotations

import logging
import math
from typing import Any

import redis
from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from optiroute import metrics
from optiroute.broker import broker_client

logger = logging.getLogger(__name__)


def _counters(address: str, username: str) -> list[tuple[str, int]]:
    return [(f"optiroute:signin:{address}:{username.lower()}", settings.SIGNIN_MAX_FAILURES),
            (f"optiroute:signin:{address}", settings.SIGNIN_MAX_FAILURES_PER_ADDRESS)]


def signin_wait(address: str, username: str) -> int:
    """Seconds until this address may try this account again (0: now)."""
    client = broker_client()
    if client is None:
        return 0
    try:
        waits = [int(client.ttl(key)) for key, limit in _counters(address, username)
                 if int(client.get(key) or 0) >= limit]
    except redis.RedisError:
        logger.warning("sign-in not throttled: the broker cannot be reached", exc_info=True)
        return 0
    return max([w for w in waits if w > 0], default=0)


def signin_failed(address: str, username: str) -> None:
    client = broker_client()
    if client is None:
        return
    try:
        pipe = client.pipeline()
        for key, _limit in _counters(address, username):
            pipe.incr(key)
            pipe.expire(key, settings.SIGNIN_WINDOW_S, nx=True)
        pipe.execute()
    except redis.RedisError:
        logger.warning("a failed sign-in was not counted: the broker cannot be reached", exc_info=True)


class ThrottledSignIn:
    """Mixed into Django's sign-in forms: refuse while throttled, count each failure."""

    request: Any
    cleaned_data: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        address = self.request.META.get("REMOTE_ADDR", "") if self.request else ""
        username = str(self.cleaned_data.get("username") or "")
        wait = signin_wait(address, username)
        if wait:
            metrics.rate_limited.labels("signin").inc()
            raise forms.ValidationError(
                f"Too many failed sign-ins for this account from your address. Try again in "
                f"{math.ceil(wait / 60)} minute(s).", code="throttled")
        try:
            return super().clean()  # type: ignore[misc, no-any-return]
        except forms.ValidationError:
            signin_failed(address, username)
            raise


class ThrottledAuthenticationForm(ThrottledSignIn, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledSignIn, AdminAuthenticationForm):
    pass
