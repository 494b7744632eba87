"""RouterBench CSVs (as RouterDC re-split them): one row per prompt, three columns per model.

`<model>` holds the score, `<model>|total_cost` the recorded USD cost of the call and
`<model>|model_response` the answer, each text cell a one-string Python list literal.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from registry.importers.validation import (
    Caveats,
    Errors,
    EvaluationImportError,
    ParsedData,
    PromptRow,
    ResultRow,
    labels,
    list_literal,
    optional_float,
    read_text,
    split_of,
)

NOT_MODELS = {"", "Unnamed: 0", "sample_id", "prompt", "eval_name", "oracle_model_to_route_to"}


def parse(path: Path) -> ParsedData:
    errors = Errors()
    data = ParsedData(fmt="routerbench", default_provider="routerbench")
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        raise EvaluationImportError([f"{path}: no CSV files"])
    # Train files first, so that test prompts duplicating train ones can be recognised.
    files.sort(key=lambda f: (split_of(f) != "train", f.name))
    csv.field_size_limit(1 << 30)
    caveats = Caveats(data)
    models: list[str] = []
    for file in files:
        text = read_text(file, errors)
        if text is None:
            continue
        reader = csv.DictReader(io.StringIO(text))
        columns = reader.fieldnames or []
        missing = [c for c in ("sample_id", "prompt", "eval_name") if c not in columns]
        if missing:
            errors.add(f"{file.name} line 1", f"missing column(s): {', '.join(missing)}")
            continue
        file_models = [c for c in columns if "|" not in c and c not in NOT_MODELS]
        if not file_models:
            errors.add(f"{file.name} line 1", "no model columns")
            continue
        models.extend(m for m in file_models if m not in models)
        split = split_of(file)
        for record in reader:
            _row(record, f"{file.name} line {reader.line_num}", split, file_models, data, errors, caveats)
    errors.raise_if_any()
    data.models = [{"name": m} for m in models]
    return data


def _row(record: dict[str, str], where: str, split: str, models: list[str], data: ParsedData, errors: Errors,
         caveats: Caveats) -> None:
    sample_id = record["sample_id"]
    try:
        text = list_literal(record["prompt"])
    except (ValueError, SyntaxError):
        errors.add(where, "prompt is not a readable list literal")
        return
    # Identity checks come first, so every copy of a duplicated or leaked id is counted as such.
    if not caveats.admit(sample_id, text, split):
        return
    scores = caveats.scores({model: _score(record.get(model)) for model in models}, where, errors)
    if scores is None:
        return
    responses = {model: _response(record, model, where, errors) for model in models}
    if None in responses.values():
        return
    task_type, domain = labels(record["eval_name"])
    data.prompts.append(PromptRow(sample_id, text, task_type, domain, split, record["eval_name"]))
    for model, score in scores.items():
        cost = optional_float(record.get(f"{model}|total_cost"))
        data.results.append(ResultRow(sample_id, model, score, cost, response=responses[model] or ""))


def _score(raw: str | None) -> float:
    """The cell's number; NaN (a missing score) where it is empty or not a number."""
    try:
        return float(raw or "nan")
    except ValueError:
        return math.nan


def _response(record: dict[str, str], model: str, where: str, errors: Errors) -> str | None:
    raw = record.get(f"{model}|model_response") or ""
    try:
        return list_literal(raw)
    except (ValueError, SyntaxError):
        errors.add(where, f"{model}|model_response is not a readable list literal")
        return None
