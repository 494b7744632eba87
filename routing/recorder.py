"""Stores dry-run decisions off the request path: a per-process writer thread inserts them in
batches, so a routing decision costs one database round trip (the neighbour search).

A decision reaches the database within FLUSH_SECONDS; if the process dies first, the
decisions of that last instant are lost (never half-written). Chat decisions, which carry
usage and budgets, are written synchronously instead (routing.services).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading

from django.conf import settings
from django.db import connection

from routing.models import Decision, fast_commit

logger = logging.getLogger(__name__)
FLUSH_SECONDS = 0.05
BATCH = 200


class DecisionRecorder:
    def __init__(self) -> None:
        self._queue: queue.Queue[Decision] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition()

    def record(self, decision: Decision) -> None:
        if not settings.OPTIROUTE_ASYNC_DECISION_WRITES:
            with fast_commit():
                decision.save()
            return
        self._ensure_thread()
        self._queue.put(decision)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="decision-recorder", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            try:
                while len(batch) < BATCH:
                    batch.append(self._queue.get(timeout=FLUSH_SECONDS))
            except queue.Empty:
                pass
            self._write(batch)

    def _write(self, batch: list[Decision]) -> None:
        try:
            with fast_commit():
                Decision.objects.bulk_create(batch)
        except Exception:
            logger.exception("could not store %d routing decisions", len(batch))
            connection.close()
        finally:
            for _ in batch:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued decision is stored."""
        self._queue.join()


recorder = DecisionRecorder()
atexit.register(recorder.flush)
