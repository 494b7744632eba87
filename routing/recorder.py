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
from typing import Any

import numpy as np
import orjson
from django.conf import settings
from django.db import connection, models
from pgvector.django import VectorField
from psycopg.types.json import Jsonb

from optiroute import metrics
from registry import vector_search
from registry.models import LLM
from routing.models import CallTiming, Decision, Usage, fast_commit

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
        metrics.decision_observe(decision, usage)
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

    def write_now(self, records: list[tuple[Decision, Usage | None]]) -> None:
        """Store these at once, in this thread (batch workers need the rows before referring to them)."""
        self._write(records)

    def _write(self, batch: list[tuple[Decision, Usage | None]]) -> None:
        with fast_commit():
            _insert(Decision, [decision for decision, _ in batch])
            _insert(Usage, [usage for _, usage in batch if usage is not None])
            _insert(CallTiming, _timings([decision for decision, _ in batch]))

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


def _timings(decisions: list[Decision]) -> list[CallTiming]:
    """The calls these decisions made (answered or failed, not skipped), timed: what observed
    latency is rolled up from (routing.inference.timings)."""
    calls = [a for d in decisions for a in d.attempts if a.get("outcome") in ("ok", "error") and "ms" in a]
    if not calls:
        return []
    ids = dict(LLM.objects.filter(name__in={a["model"] for a in calls}).values_list("name", "id"))
    return [CallTiming(llm_id=ids[a["model"]], ok=a["outcome"] == "ok", total_ms=a["ms"],
                       first_token_ms=a.get("first_token_ms")) for a in calls if a["model"] in ids]


def _insert(model: type[models.Model], rows: list[Any]) -> None:
    """INSERT model rows in one pipelined round trip, JSON encoded by orjson.

    Model.save() per row costs a round trip each and the standard json module's encoding of
    every candidate's scores, about 2 ms of a process's time per decision; a batch here costs
    a fraction of that. Values are prepared by the model's own fields, so defaults and
    auto_now_add apply as in save(); auto-increment keys are left to the database.
    """
    if not rows:
        return
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
    quote = connection.ops.quote_name
    # Identifiers from the model's own metadata, quoted; every value travels as a parameter.
    sql = (f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(str(f.column)) for f in fields)}) "  # noqa: S608
           f"VALUES ({', '.join(['%s'] * len(fields))})")
    values = [[_prepared(field, row) for field in fields] for row in rows]
    with vector_search.cursor() as cursor:
        cursor.executemany(sql, values)


def _prepared(field: models.Field[Any, Any], row: models.Model) -> Any:
    value = field.pre_save(row, True)
    if isinstance(field, models.JSONField):
        return None if value is None else Jsonb(value, dumps=_json)
    if isinstance(field, VectorField):
        return None if value is None else np.asarray(value, dtype=np.float32)  # binary, see vector_search
    return field.get_db_prep_save(value, connection)


def _json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


recorder = DecisionRecorder()
atexit.register(recorder.flush)
