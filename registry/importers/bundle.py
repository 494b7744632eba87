"""The canonical dataset bundle: prompts.jsonl, results.csv or results.jsonl, and an optional models.json."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from registry.importers.validation import (
    Errors,
    EvaluationImportError,
    ParsedData,
    PromptRow,
    ResultRow,
    dimension_of,
    json_document,
    jsonl_objects,
    number,
    read_text,
    response_of,
    validate_models,
)

RESULT_COLUMNS = ("prompt_id", "model", "score")


def parse(folder: Path) -> ParsedData:
    errors = Errors()
    data = ParsedData(fmt="bundle")
    if not folder.is_dir():
        raise EvaluationImportError(
            [f"{folder}: a bundle is a folder holding prompts.jsonl and results.csv or results.jsonl"])
    prompts_file = folder / "prompts.jsonl"
    result_files = [f for f in (folder / "results.csv", folder / "results.jsonl") if f.exists()]
    if not prompts_file.exists():
        errors.add(folder.name, "prompts.jsonl is missing")
    if not result_files:
        errors.add(folder.name, "results.csv or results.jsonl is missing")
    if len(result_files) > 1:
        errors.add(folder.name, "both results.csv and results.jsonl are present; keep one")
    errors.raise_if_any()

    data.prompts = _prompts(prompts_file, errors)
    if not data.prompts:
        # prompts.jsonl could not be read (not UTF-8, empty, ...): checking each result against
        # it would only add one misleading "not in prompts.jsonl" per row.
        errors.raise_if_any()
    # Where some prompt lines were refused, their ids are unknown for a reason already reported.
    known_ids = None if errors.items else {p.prompt_id for p in data.prompts}
    data.results = _results(result_files[0], known_ids, errors)
    if (folder / "models.json").exists():
        data.models = _models(folder / "models.json", errors, data.warnings)
    errors.raise_if_any()
    return data


def _prompts(path: Path, errors: Errors) -> list[PromptRow]:
    rows: list[PromptRow] = []
    first_seen: dict[str, int] = {}
    for line, obj in jsonl_objects(path, errors):
        where = f"{path.name} line {line}"
        prompt_id, text = obj.get("prompt_id"), obj.get("prompt")
        if not isinstance(prompt_id, str) or not prompt_id.strip():
            errors.add(where, "prompt_id is required and must be a non-empty string")
            continue
        if not isinstance(text, str) or not text.strip():
            errors.add(where, "prompt is required and must be a non-empty string")
            continue
        if prompt_id in first_seen:
            errors.add(where, f"duplicate prompt_id {prompt_id!r} (first on line {first_seen[prompt_id]})")
            continue
        split = obj.get("split", "train")
        if split not in ("train", "test"):
            errors.add(where, f"split must be 'train' or 'test', got {split!r}")
            continue
        labels = {key: obj.get(key) or "" for key in ("task_type", "domain")}
        if any(not isinstance(value, str) for value in labels.values()):
            errors.add(where, "task_type and domain must be strings")
            continue
        first_seen[prompt_id] = line
        rows.append(PromptRow(prompt_id, text, labels["task_type"], labels["domain"], split, labels["task_type"]))
    if not rows and not errors.items:
        errors.add(path.name, "no prompts")
    return rows


def _records(path: Path, errors: Errors) -> Iterator[tuple[int, dict[str, Any]]]:
    if path.suffix == ".jsonl":
        yield from jsonl_objects(path, errors)
        return
    text = read_text(path, errors)
    if text is None:
        return
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in RESULT_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        errors.add(f"{path.name} line 1", f"missing column(s): {', '.join(missing)}")
        return
    for record in reader:
        yield reader.line_num, {key: value for key, value in record.items() if value not in (None, "")}


def _results(path: Path, known_ids: set[str] | None, errors: Errors) -> list[ResultRow]:
    rows: list[ResultRow] = []
    seen: dict[tuple[str, str, str], int] = {}
    for line, record in _records(path, errors):
        where = f"{path.name} line {line}"
        row = _result_row(record, where, errors)
        if row is None:
            continue
        if known_ids is not None and row.prompt_id not in known_ids:
            errors.add(where, f"prompt_id {row.prompt_id!r} is not in prompts.jsonl")
            continue
        key = (row.prompt_id, row.model, row.dimension)
        if key in seen:
            errors.add(where, f"duplicate result for prompt {row.prompt_id!r}, model {row.model!r} "
                              f"and dimension {row.dimension!r} (first on line {seen[key]})")
            continue
        seen[key] = line
        rows.append(row)
    if not rows and not errors.items:
        errors.add(path.name, "no results")
    return rows


def _result_row(record: dict[str, Any], where: str, errors: Errors) -> ResultRow | None:
    before = len(errors.items)
    prompt_id, model = record.get("prompt_id"), record.get("model")
    if not isinstance(prompt_id, str) or not prompt_id.strip():
        errors.add(where, "prompt_id is required")
    if not isinstance(model, str) or not model.strip():
        errors.add(where, "model is required")
    score = number(record, "score", where, errors, high=1.0, required=True)
    cost = number(record, "cost_usd", where, errors)
    latency = number(record, "latency_ms", where, errors)
    tokens_in = number(record, "input_tokens", where, errors)
    tokens_out = number(record, "output_tokens", where, errors)
    response = response_of(record, where, errors)
    dimension = dimension_of(record, where, errors)
    if len(errors.items) > before or score is None or response is None or dimension is None:
        return None
    return ResultRow(str(prompt_id), str(model), score, cost, latency,
                     None if tokens_in is None else int(tokens_in),
                     None if tokens_out is None else int(tokens_out), response, dimension)


def _models(path: Path, errors: Errors, warnings: list[str]) -> list[dict[str, Any]]:
    items = json_document(path, errors, list, "a JSON list of model objects")
    return [] if items is None else validate_models(items, path.name, errors, warnings)
