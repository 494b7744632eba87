"""The nearest-train-prompt search, the one database statement of every routing decision.

It bypasses the ORM and Django's cursor on purpose: the query vector travels in pgvector's
binary format through a server-side-bound, prepared statement. Django's client-side binding
would format 384 floats as text and send them inside the query string, which costs more
Python time than the index search costs the database.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import psycopg
from django.conf import settings
from django.db import connection, transaction
from psycopg.adapt import Dumper
from psycopg.pq import Format

NEAREST_TRAIN_SQL = ("SELECT id, embedding <=> %s AS distance FROM registry_prompt "
                     "WHERE split = 'train' AND embedding IS NOT NULL ORDER BY distance LIMIT %s")
NEAREST_TRAIN_IN_DATASETS_SQL = ("SELECT id, embedding <=> %s AS distance FROM registry_prompt "
                                 "WHERE split = 'train' AND embedding IS NOT NULL AND dataset_id = ANY(%s) "
                                 "ORDER BY distance LIMIT %s")
# A search within some datasets drops the others' prompts after the HNSW beam, so it runs with
# a wider beam than the unscoped one: at 100, 99.3% of the exact 50 nearest within LLMRouter's
# prompts (98.6% at 64). When the filter still leaves fewer than k, it runs again once with
# WIDE_EF_SEARCH.
SCOPED_EF_SEARCH = 100
WIDE_EF_SEARCH = 1000


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
    """(id, cosine similarity) of the k train prompts closest to `vector`, through the HNSW index."""
    sql, params = _statement(vector, k, dataset_ids)
    if dataset_ids is None:
        rows = _search(sql, params)
    else:
        rows = _search_with_beam(sql, params, max(SCOPED_EF_SEARCH, settings.HNSW_EF_SEARCH))
        if len(rows) < k:
            rows = _search_with_beam(sql, params, WIDE_EF_SEARCH)
    # A stored zero vector (a prompt embedded before the embedder gave every non-empty text a
    # direction) has no cosine distance: pgvector answers NaN, which is no evidence.
    return [(pid, 1.0 - distance) for pid, distance in rows if not math.isnan(distance)]


def _search_with_beam(sql: str, params: list[Any], ef_search: int) -> list[tuple[int, float]]:
    with transaction.atomic(), cursor() as beam:
        beam.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(ef_search)])
        return _search(sql, params)


def _statement(vector: Any, k: int, dataset_ids: tuple[int, ...] | None) -> tuple[str, list[Any]]:
    """One of two constant statements; every value travels as a parameter."""
    query = np.asarray(vector, dtype=np.float32)
    if dataset_ids is None:
        return NEAREST_TRAIN_SQL, [query, k]
    return NEAREST_TRAIN_IN_DATASETS_SQL, [query, list(dataset_ids), k]


def _search(sql: str, params: list[Any]) -> list[tuple[int, float]]:
    with cursor() as search:
        search.execute(sql, params, prepare=True)
        return search.fetchall()


def explain(vector: Any, k: int, dataset_ids: tuple[int, ...] | None = None) -> str:
    """The query plan of a search, for tests and operators."""
    sql, params = _statement(vector, k, dataset_ids)
    with cursor() as plan:
        plan.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in plan.fetchall())
