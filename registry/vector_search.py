"""The nearest-train-prompt search, the one database statement of every routing decision.

It bypasses the ORM and Django's cursor on purpose: the query vector travels in pgvector's
binary format through a server-side-bound, prepared statement. Django's client-side binding
would format 384 floats as text and send them inside the query string, which costs more
Python time than the index search costs the database.
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.db import connection, transaction
from psycopg.adapt import Dumper
from psycopg.pq import Format

from optiroute import metrics

NEAREST_TRAIN_SQL = ("SELECT id, embedding <=> %s AS distance FROM registry_prompt "
                     "WHERE split = 'train' AND embedding IS NOT NULL ORDER BY distance LIMIT %s")
# A search within some datasets filters the HNSW scan's rows by dataset, so it runs as one of
# pgvector's (0.8) iterative index scans: the scan goes on past its first beam until k rows pass
# the filter, or the index (or SCOPED_MAX_SCAN_TUPLES) is exhausted. In relaxed order, because
# strict order drops every row found after a farther one was returned, true neighbours among
# them; relaxed order keeps them, and the materialised CTE puts the k rows in order again
# (`+ 0`: Postgres 17 and later would otherwise take the CTE's order as already sorted and skip
# the sort). For a scope that is a small share of the index, Postgres plans an exact scan of the
# scope's rows instead (RouterBench's, a third of the registry, is planned so).
NEAREST_TRAIN_IN_DATASETS_SQL = (
    "WITH nearest AS MATERIALIZED (SELECT id, embedding <=> %s AS distance FROM registry_prompt "
    "WHERE split = 'train' AND embedding IS NOT NULL AND dataset_id = ANY(%s) ORDER BY distance LIMIT %s) "
    "SELECT id, distance FROM nearest ORDER BY distance + 0")
# The same searches as exact scans, the index out of reach of the materialised CTE's sort (no
# settings, so no transaction): they complete a search the index answered short.
_EXACT = ("WITH scanned AS MATERIALIZED (SELECT id, embedding <=> %s AS distance FROM registry_prompt "
          "WHERE split = 'train' AND embedding IS NOT NULL{scope}) SELECT id, distance FROM scanned "
          "ORDER BY distance LIMIT %s")
EXACT_NEAREST_TRAIN_SQL = _EXACT.format(scope="")
EXACT_NEAREST_TRAIN_IN_DATASETS_SQL = _EXACT.format(scope=" AND dataset_id = ANY(%s)")
# The k nearest train prompts of each of some datasets, in one exact scan of their rows: for the
# small datasets that measure a non-accuracy dimension, where one query for all of them costs
# less than an index search each (routing.pipeline.dimension_evidence_gather).
NEAREST_TRAIN_PER_DATASET_SQL = (
    "SELECT id, dataset_id, distance FROM (SELECT id, dataset_id, distance, "
    "row_number() OVER (PARTITION BY dataset_id ORDER BY distance) AS rank FROM ("
    "SELECT id, dataset_id, embedding <=> %s AS distance FROM registry_prompt "
    "WHERE split = 'train' AND embedding IS NOT NULL AND dataset_id = ANY(%s)) AS scanned) AS ranked "
    "WHERE rank <= %s ORDER BY distance")
# The first beam of a scoped search: at 100, 99.1-99.3% of the exact 50 nearest within
# LLMRouter's prompts (98.1% at 64).
SCOPED_EF_SEARCH = 100
# Enough to walk every train prompt of the registries seen so far (10,000-20,000): only a scope
# holding fewer than k prompts scans that far; any other stops at its k-th row.
SCOPED_MAX_SCAN_TUPLES = 100_000

logger = logging.getLogger(__name__)


class _VectorDumper(Dumper):
    """numpy float vector -> pgvector's binary input: dims, unused, big-endian float4s."""

    format = Format.BINARY
    oid = 0  # set per database in _dumper_for

    def dump(self, obj: Any) -> bytes:
        values = np.asarray(obj, dtype=">f4")
        return struct.pack(">HH", values.shape[0], 0) + values.tobytes()


_dumpers: dict[int, type[_VectorDumper]] = {}


def _dumper_for(raw: psycopg.Connection[Any]) -> type[_VectorDumper]:
    with raw.cursor() as lookup:
        oid = lookup.execute("SELECT 'vector'::regtype::oid").fetchone()[0]  # type: ignore[index]
    if oid not in _dumpers:
        _dumpers[oid] = type("VectorDumper", (_VectorDumper,), {"oid": oid})
    return _dumpers[oid]


def cursor() -> psycopg.Cursor[Any]:
    """A server-side-binding cursor on Django's connection that sends numpy vectors in binary."""
    connection.ensure_connection()
    raw = connection.connection
    dumper = getattr(raw, "_optiroute_vector_dumper", None)
    if dumper is None:
        dumper = _dumper_for(raw)
        raw._optiroute_vector_dumper = dumper  # type: ignore[union-attr]
    binary = psycopg.Cursor(raw)
    binary.adapters.register_dumper(np.ndarray, dumper)
    return binary


def nearest_train_ids(vector: Any, k: int, dataset_ids: tuple[int, ...] | None = None) -> list[tuple[int, float]]:
    """(id, cosine similarity) of the k train prompts closest to `vector`, through the HNSW index
    (fewer when the scope holds fewer)."""
    sql, params = _statement(vector, k, dataset_ids)
    with _scan_settings(dataset_ids):
        rows = _search(sql, params)
    if len(rows) < k:
        rows = _completed(rows, *_statement(vector, k, dataset_ids, exact=True))
    if dataset_ids is None:
        # An iterative scan in relaxed order that went past its first beam may return rows a
        # little out of order: 50 rows sort here in microseconds (the scoped statement sorts in SQL).
        rows.sort(key=lambda row: row[1])
    # A stored zero vector (a prompt embedded before the embedder gave every non-empty text a
    # direction) has no cosine distance: pgvector answers NaN, which is no evidence.
    return [(pid, 1.0 - distance) for pid, distance in rows if not math.isnan(distance)]


def _completed(found: list[Any], sql: str, params: list[Any]) -> list[Any]:
    """The rows of an exact scan when the index returned fewer than k. Either the registry (or the
    scope) holds fewer, and the scan, as small, finds the same; or the index scan stopped at
    hnsw.max_scan_tuples among dead entries (rows deleted or rolled back, not yet vacuumed)
    before it reached k live rows, possibly before any."""
    exact = _search(sql, params)
    if _with_direction(exact) > _with_direction(found):
        metrics.index_short_searches.inc()
        logger.warning("The HNSW index returned %d of the %d nearest train prompts an exact scan finds; "
                       "VACUUM registry_prompt removes the dead entries it stopped among", len(found), len(exact))
    return exact


def _with_direction(rows: list[Any]) -> int:
    return sum(not math.isnan(distance) for _, distance in rows)


def nearest_train_ids_per_dataset(vector: Any, k: int, dataset_ids: tuple[int, ...]) -> dict[int, list[tuple[int, float]]]:
    """Per dataset of `dataset_ids`, (id, cosine similarity) of its k train prompts closest to
    `vector`, most similar first: an exact scan, one statement for all of them."""
    rows: list[tuple[Any, ...]] = _search(NEAREST_TRAIN_PER_DATASET_SQL,
                                          [np.asarray(vector, dtype=np.float32), list(dataset_ids), k])
    found: dict[int, list[tuple[int, float]]] = {}
    for pid, dataset_id, distance in rows:
        if not math.isnan(distance):
            found.setdefault(dataset_id, []).append((pid, 1.0 - distance))
    return found


@contextmanager
def _scan_settings(dataset_ids: tuple[int, ...] | None) -> Iterator[None]:
    """The scan of a scoped search, set for its own transaction; an unscoped search (every
    request's) keeps the connection's settings and opens no transaction."""
    if dataset_ids is None:
        yield
        return
    with transaction.atomic(), cursor() as scan:
        scan.execute("SELECT set_config('hnsw.ef_search', %s, true), "
                     "set_config('hnsw.iterative_scan', 'relaxed_order', true), "
                     "set_config('hnsw.max_scan_tuples', %s, true)",
                     [str(max(SCOPED_EF_SEARCH, settings.HNSW_EF_SEARCH)), str(SCOPED_MAX_SCAN_TUPLES)])
        yield


def _statement(vector: Any, k: int, dataset_ids: tuple[int, ...] | None, exact: bool = False) -> tuple[str, list[Any]]:
    """One of four constant statements; every value travels as a parameter."""
    query = np.asarray(vector, dtype=np.float32)
    if dataset_ids is None:
        return EXACT_NEAREST_TRAIN_SQL if exact else NEAREST_TRAIN_SQL, [query, k]
    return EXACT_NEAREST_TRAIN_IN_DATASETS_SQL if exact else NEAREST_TRAIN_IN_DATASETS_SQL, [query, list(dataset_ids), k]


def _search(sql: str, params: list[Any]) -> list[Any]:
    # This cursor is psycopg's own: Django's wrapper turns its errors into Django's (a lost
    # connection is then a django.db.OperationalError) and marks the connection as failed, so it
    # is replaced, not reused, after the request.
    with connection.wrap_database_errors, cursor() as search:
        search.execute(sql, params, prepare=True)
        return search.fetchall()


def explain(vector: Any, k: int, dataset_ids: tuple[int, ...] | None = None, exact: bool = False) -> str:
    """The query plan of a search (or of the exact scan that completes it), under the settings it
    runs with, for tests and operators."""
    sql, params = _statement(vector, k, dataset_ids, exact)
    with _scan_settings(dataset_ids), cursor() as plan:
        plan.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in plan.fetchall())
