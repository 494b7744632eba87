"""API keys: made for a cohort, shown once, stored hashed; the browser chat's key per user."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from optiroute.api_errors import OptiRouteError
from routing.models import ApiKey, Cohort


def api_key_create(*, cohort_name: str | None, label: str = "", requests_per_minute: int | None = None,
                   tokens_per_minute: int | None = None) -> tuple[ApiKey, str]:
    """A new key of the cohort (its own rate limits, if given); the raw key is returned once, only its hash kept."""
    cohort = cohort_get(cohort_name)
    raw = ApiKey.generate()
    with transaction.atomic():
        key = ApiKey.objects.create(cohort=cohort, label=label, hint=raw[:8], hashed=ApiKey.hash(raw),
                                    requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute)
    return key, raw


def get_chat_key_for_user(user: Any) -> ApiKey:
    """The key the browser chat uses on this user's behalf, in the user's cohort (else the default).

    Made on first use; its raw value is never shown, since the browser session is what
    authenticates. An admin revokes a user's chat by revoking this key.
    """
    cohort = user.cohorts.order_by("name").first() or cohort_get(None)
    key = ApiKey.objects.filter(user=user).select_related("cohort__default_profile").order_by("-created_at").first()
    if key is None:
        raw = ApiKey.generate()
        return ApiKey.objects.create(cohort=cohort, user=user, label=f"browser chat: {user.get_username()}",
                                     hint=raw[:8], hashed=ApiKey.hash(raw))
    if key.revoked_at is not None:
        raise OptiRouteError("your chat access has been revoked; ask an administrator", status=403,
                             code="chat_revoked")
    if key.cohort_id != cohort.pk:  # membership changed: the chat follows it
        key.cohort = cohort
        key.save(update_fields=["cohort"])
    return key


def cohort_get(name: str | None) -> Cohort:
    if name is None:
        cohort, _ = Cohort.objects.get_or_create(name="default")
        return cohort
    found = Cohort.objects.filter(name=name).first()
    if found is None:
        raise OptiRouteError(f"unknown cohort {name!r}")
    return found
