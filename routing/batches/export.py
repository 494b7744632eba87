"""A batch's results as a download: per row the id, the model, the output, tokens and cost (or the error)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse

from routing.batches.services import batch_results
from routing.models import Batch

COLUMNS = ["custom_id", "status", "model", "output", "input_tokens", "output_tokens", "cost_usd", "error"]
RESULT_FORMATS = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


def results_download(batch: Batch, kind: str) -> StreamingHttpResponse:
    lines = _csv_lines(batch) if kind == "csv" else _jsonl_lines(batch)
    response = StreamingHttpResponse(lines, content_type=f"{RESULT_FORMATS[kind]}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="batch-{batch.pk}.{kind}"'
    return response


def _rows(batch: Batch) -> Iterator[dict[str, Any]]:
    for row in batch_results(batch):
        yield {"custom_id": row["custom_id"], "status": row["status"], "model": row["model"],
               "output": row["content"], "input_tokens": row["input_tokens"], "output_tokens": row["output_tokens"],
               "cost_usd": row["cost_usd"], "error": row["error"]}


def _csv_lines(batch: Batch) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    for row in _rows(batch):
        writer.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _jsonl_lines(batch: Batch) -> Iterator[str]:
    for row in _rows(batch):
        yield json.dumps(row, ensure_ascii=False) + "\n"
