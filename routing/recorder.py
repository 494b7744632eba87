"""Stores decisions (and the usage of answered calls) off the request path: a per-process
writer thread inserts them in batches, so a routing decision costs one database round trip
(the neighbour search) and a gateway call adds no write to its latency.

A record reaches the database within FLUSH_SECONDS; if the process dies first, the records of
that last instant are lost, never half-written: a decision and its usage go in together, and
a decision's usage row is unique, so a call is never accounted twice. Budgets read usage, so
they may lag by that instant.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading

from django.conf import settings
from django.db import connection

from routing.models import Decision, Usage, fast_commit

logger = logging.getLogger(__name__)
FLUSH_SECONDS = 0.05
BATCH = 200


class DecisionRecorder:
    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Decision, Usage | None]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition()

    def record(self, decision: Decision, usage: Usage | None = None) -> None:
        if not settings.OPTIROUTE_ASYNC_DECISION_WRITES:
            self._write([(decision, usage)])
            return
        self._ensure_thread()
        self._queue.put((decision, usage))

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
            self._write_queued(batch)

    def _write(self, batch: list[tuple[Decision, Usage | None]]) -> None:
        # Row by row in one transaction: bulk_create's UNNEST arrays make psycopg escape every
        # JSON document character by character, which costs more than the extra round trips.
        with fast_commit():
            for decision, usage in batch:
                decision.save(force_insert=True)
                if usage is not None:
                    usage.save(force_insert=True)

    def _write_queued(self, batch: list[tuple[Decision, Usage | None]]) -> None:
        try:
            self._write(batch)
        except Exception:
            logger.exception("could not store %d routing decisions", len(batch))  # the thread lives on
            connection.close()
        finally:
            for _ in batch:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued decision is stored."""
        self._queue.join()


recorder = DecisionRecorder()
atexit.register(recorder.flush)
