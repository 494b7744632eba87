"""Postgres advisory locks: one holder at a time across every process that shares the database."""

from __future__ import annotations

from django.db import connection


def advisory_xact_lock(key: int) -> None:
    """Wait for the lock `key`; it is held until the enclosing transaction ends (call it inside one)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
