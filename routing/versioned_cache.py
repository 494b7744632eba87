"""One value per process, reloaded only when its source has changed.

Routing reads the same state on every call (the registry snapshot, the analyzer, the
estimator, the API keys seen): loading it per request would cost queries, and keeping it
forever would miss changes. A VersionedCache keeps the loaded value, asks `version()` at most
every `recheck_seconds` whether the source changed, and calls `load()` only when it has: so a
change reaches every process within `recheck_seconds`, and a request costs no query.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")
_UNSET = object()


class VersionedCache(Generic[V]):
    def __init__(self, *, version: Callable[[], Hashable], load: Callable[[Hashable, V | None], V],
                 recheck_seconds: float) -> None:
        """`load(version, previous)` builds the value for that version (previous: the value it
        replaces, or None), so a loader may keep what did not change."""
        self._version = version
        self._load = load
        self.recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._value: object = _UNSET
        self._loaded: Hashable = _UNSET
        self._checked_at = -float("inf")

    def get(self, *, fresh: bool = False) -> V:
        """The current value; `fresh` asks for the version now instead of within recheck_seconds."""
        value = self._value  # unlocked fast path: a slightly stale read only rechecks a little late
        if not fresh and value is not _UNSET and time.monotonic() - self._checked_at < self.recheck_seconds:
            return value  # type: ignore[return-value]
        with self._lock:
            now = time.monotonic()
            if not fresh and self._value is not _UNSET and now - self._checked_at < self.recheck_seconds:
                return self._value  # type: ignore[return-value]  # another thread refreshed it meanwhile
            version = self._version()
            if self._value is _UNSET or version != self._loaded:
                previous = None if self._value is _UNSET else self._value
                self._value = self._load(version, previous)  # type: ignore[arg-type]
                self._loaded = version
            self._checked_at = now
            return self._value  # type: ignore[return-value]

    @property
    def loaded(self) -> bool:
        """Whether a value is held (without loading one)."""
        return self._value is not _UNSET

    def clear(self) -> None:
        """Forget the value: the next get() loads the current version."""
        with self._lock:
            self._value = _UNSET
            self._loaded = _UNSET
            self._checked_at = -float("inf")
