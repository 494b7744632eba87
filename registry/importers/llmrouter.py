"""LLMRouter's routing_data.jsonl (scores per model) with llm_candidates.json (prices)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from registry.importers.validation import (
    Caveats,
    Errors,
    ParsedData,
    PromptRow,
    ResultRow,
    json_document,
    jsonl_objects,
    labels,
    optional_float,
)


def parse(path: Path) -> ParsedData:
    errors = Errors()
    data = ParsedData(fmt="llmrouter", default_provider="llmrouter")
    folder = path if path.is_dir() else path.parent
    data_file = path if path.is_file() else folder / "routing_data.jsonl"
    candidates_file = folder / "llm_candidates.json"
    for required in (data_file, candidates_file):
        if not required.exists():
            errors.add(folder.name, f"{required.name} is missing")
    errors.raise_if_any()
    candidates = _candidates(candidates_file, errors)
    records = sorted(jsonl_objects(data_file, errors), key=lambda item: item[1].get("split") != "train")
    caveats = Caveats(data)
    scored_models: list[str] = []
    for line, obj in records:
        _row(obj, f"{data_file.name} line {line}", data, errors, caveats, scored_models)
    unknown = [m for m in scored_models if m not in candidates]
    if unknown:
        errors.add(candidates_file.name, f"no prices for scored model(s): {', '.join(unknown)}")
    errors.raise_if_any()
    data.models = [candidates[m] for m in scored_models]
    return data


def _candidates(path: Path, errors: Errors) -> dict[str, dict[str, Any]]:
    raw = json_document(path, errors, dict, "an object keyed by model name")
    if raw is None:
        return {}
    models = {}
    for name, info in raw.items():
        size = re.match(r"([\d.]+)\s*B", str(info.get("size", "")), re.IGNORECASE)
        models[name] = {
            "name": name, "api_model_id": str(info.get("model", "")),
            "input_price_per_mtok": optional_float(str(info.get("input_price", ""))),
            "output_price_per_mtok": optional_float(str(info.get("output_price", ""))),
            "parameters_b": float(size.group(1)) if size else None,
        }
    if not models:
        errors.add(path.name, "expected an object keyed by model name")
    return models


def _row(obj: dict[str, Any], where: str, data: ParsedData, errors: Errors, caveats: Caveats,
         scored_models: list[str]) -> None:
    query, split, scores = obj.get("query"), obj.get("split", "train"), obj.get("scores")
    if not isinstance(query, str) or not query.strip() or split not in ("train", "test") \
            or not isinstance(scores, dict):
        errors.add(where, "needs query (string), split (train/test) and scores (object)")
        return
    clean = caveats.scores(scores, where, errors)
    # The query is the only identity the data has: a repeated query is a duplicate id.
    if clean is None or not caveats.admit(query.strip(), query.strip(), split):
        return
    prompt_id = f"{split}-{obj.get('idx', len(data.prompts))}"
    label = str(obj.get("task_name", ""))
    task_type, domain = labels(label)
    data.prompts.append(PromptRow(prompt_id, query, task_type, domain, split, label))
    for model, score in clean.items():
        if model not in scored_models:
            scored_models.append(model)
        data.results.append(ResultRow(prompt_id, model, score))
