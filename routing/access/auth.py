"""API-key authentication: `Authorization: Bearer <key>`; only the key's hash is looked up."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from routing.models import ApiKey
from routing.versioned_cache import VersionedCache


class ApiKeyUser(AnonymousUser):
    """The caller behind an API key: authenticated, and scoped to the key's cohort."""

    def __init__(self, key: ApiKey) -> None:
        self.api_key = key
        self.cohort = key.cohort

    @property
    def is_authenticated(self) -> bool:  # type: ignore[override]
        return True


# Every gateway call authenticates; a key found is trusted for KEY_CACHE_SECONDS in this process
# (the cache's version is the time window, so every key is looked up again in the next one).
# Revoking clears it here at once and in other processes within that time.
KEY_CACHE_SECONDS = 5.0
_keys: VersionedCache[dict[str, ApiKey]] = VersionedCache(
    version=lambda: int(time.monotonic() // KEY_CACHE_SECONDS), load=lambda _window, _previous: {},
    recheck_seconds=0.0)


def _lookup(raw: str) -> ApiKey | None:
    digest = ApiKey.hash(raw)
    seen = _keys.get()
    cached = seen.get(digest)
    if cached is not None and cached.revoked_at is None:
        return cached
    key = ApiKey.objects.for_raw(raw)
    if key is None:
        seen.pop(digest, None)
    else:
        seen[digest] = key
    return key


def forget(key: ApiKey) -> None:
    _keys.get().pop(key.hashed, None)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiKeyUser, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1").strip()
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise exceptions.AuthenticationFailed("use the header 'Authorization: Bearer <api key>'")
        key = _lookup(raw.strip())
        if key is None:
            raise exceptions.AuthenticationFailed("invalid or revoked API key")
        return ApiKeyUser(key), key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "routing.access.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer"}
