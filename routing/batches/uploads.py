"""Batch uploads: a CSV or JSONL file read into the requests the batch API takes.

A file is refused whole, before anything is stored, with the line and the problem: a batch
that ran its good rows and dropped the others would be worse than none.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from django.core.files.uploadedfile import UploadedFile

from optiroute.api_errors import OptiRouteError
from routing.batches.serializers import BatchRequestSerializer

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_ROWS = 10_000
CSV_COLUMNS = ["custom_id", "prompt", "system", "max_tokens", "reference"]
JSONL_KEYS = ["custom_id", "prompt", "messages", "max_tokens", "reference"]
FORMATS_HELP = ("CSV with a header row (prompt required; custom_id, system, max_tokens, reference optional), or "
                "JSONL with one object a line (prompt or messages; custom_id, max_tokens, reference optional)")


def batch_upload_read(*, name: str, data: bytes) -> list[dict[str, Any]]:
    """The upload's requests, each validated as the API validates them; an OptiRouteError naming the problem."""
    upload_size_check(name=name, size=len(data))
    text = _decoded(name, data)
    lower = name.lower()
    if lower.endswith(".csv"):
        rows = _csv_rows(name, text)
    elif lower.endswith((".jsonl", ".ndjson")):
        rows = _jsonl_rows(name, text)
    else:
        raise OptiRouteError(f"{name}: upload a .csv or .jsonl file ({FORMATS_HELP})")
    if not rows:
        raise OptiRouteError(f"{name} holds no requests")
    if len(rows) > MAX_ROWS:
        raise OptiRouteError(f"{name} holds {len(rows)} requests; an upload takes at most {MAX_ROWS:,} "
                             "(send more as further chunks of the same batch)")
    return _validated(name, rows)


def batch_upload_body(*, fields: Mapping[str, Any], upload: UploadedFile) -> dict[str, Any]:
    """A multipart request's fields as the JSON body the batch API takes: the file's requests (refused
    whole, naming the line, if bad), and `optiroute` read from its JSON text."""
    name = upload.name or "upload"
    upload_size_check(name=name, size=upload.size or 0)  # before it is read into memory
    body: dict[str, Any] = {key: fields[key] for key in fields if key != "file"}
    if isinstance(body.get("optiroute"), str):
        try:
            body["optiroute"] = json.loads(body["optiroute"])
        except json.JSONDecodeError as exc:
            raise OptiRouteError(f"optiroute: not valid JSON ({exc.msg} at column {exc.colno})") from None
    body["requests"] = batch_upload_read(name=name, data=upload.read())
    return body


def upload_size_check(*, name: str, size: int) -> None:
    if size > MAX_UPLOAD_BYTES:
        raise OptiRouteError(f"{name} is {size / 1e6:.1f} MB; a batch upload may be at most "
                             f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB (split it into several batches)",
                             status=413, code="upload_too_large")


def _decoded(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise OptiRouteError(f"{name}, line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); "
                             "save the file as UTF-8") from None


def _csv_rows(name: str, text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = reader.fieldnames or []
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if unknown or "prompt" not in columns:
        raise OptiRouteError(f"{name}, line 1: the columns are {', '.join(columns) or 'missing'}; a batch CSV needs "
                             f"a prompt column and may have {', '.join(c for c in CSV_COLUMNS if c != 'prompt')}"
                             + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    rows = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise OptiRouteError(f"{name}, line {line}: more values than the {len(columns)} columns")
        if not any((value or "").strip() for value in row.values()):
            raise OptiRouteError(f"{name}, line {line}: an empty row")
        if not (row["prompt"] or "").strip():
            raise OptiRouteError(f"{name}, line {line}: the prompt is empty")
        messages = [{"role": "system", "content": row["system"]}] if (row.get("system") or "").strip() else []
        request = {"messages": [*messages, {"role": "user", "content": row["prompt"] or ""}]}
        rows.append((line, request | _optional(row)))
    return rows


def _jsonl_rows(name: str, text: str) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            raise OptiRouteError(f"{name}, line {line}: an empty line")
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise OptiRouteError(f"{name}, line {line}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, dict):
            raise OptiRouteError(f"{name}, line {line}: a JSON object is needed, not {type(row).__name__}")
        unknown = sorted(set(row) - set(JSONL_KEYS))
        if unknown:
            raise OptiRouteError(f"{name}, line {line}: unknown key(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(JSONL_KEYS)}")
        if "prompt" in row:
            request: dict[str, Any] = {"messages": [{"role": "user", "content": row["prompt"]}]}
        elif "messages" in row:
            request = {"messages": row["messages"]}
        else:
            raise OptiRouteError(f"{name}, line {line}: give a prompt or messages")
        rows.append((line, request | _optional(row)))
    return rows


def _optional(row: dict[str, Any]) -> dict[str, Any]:
    """The row's optional fields that have a value (a CSV's empty cell is no value)."""
    return {key: row[key] for key in ("custom_id", "max_tokens", "reference") if row.get(key) not in (None, "")}


def _validated(name: str, rows: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        serializer = BatchRequestSerializer(data=row)
        if not serializer.is_valid():
            raise OptiRouteError(f"{name}, line {line}: {_first_error(serializer.errors)}")
        request = dict(serializer.validated_data)
        custom_id = request.get("custom_id")
        if custom_id is not None:
            if custom_id in seen:
                raise OptiRouteError(f"{name}, line {line}: custom_id {custom_id!r} repeats line {seen[custom_id]}")
            seen[custom_id] = line
        requests.append(request)
    return requests


def _first_error(errors: Any, field: str = "") -> str:
    """DRF's nested errors as one sentence: the first field's first problem."""
    if isinstance(errors, dict):
        key, value = next(iter(errors.items()))
        return _first_error(value, key if key != "non_field_errors" else field)
    if isinstance(errors, list):
        nested = next((e for e in errors if e), errors[0] if errors else "invalid")
        return _first_error(nested, field)
    return f"{field}: {errors}" if field else str(errors)
