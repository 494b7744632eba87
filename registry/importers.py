"""Parsers for evaluation data: the canonical bundle and the public RouterBench/LLMRouter layouts.

A parser reads and validates everything before anything touches the database, so a bad
file refuses the import as a whole with messages naming file, line and reason.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from optiroute.api_errors import OptiRouteError
from registry.models import DECLARED_METRICS

MAX_ERRORS = 50
FORMATS = ("bundle", "routerbench", "llmrouter")

# Public benchmark labels mapped onto the analyzer's task types and domains.
SOURCE_LABELS: dict[str, tuple[str, str]] = {
    "mbpp": ("code", "software"),
    "human_eval": ("code", "software"),
    "arc-challenge": ("question_answering", "science"),
    "arc_challenge": ("question_answering", "science"),
    "winogrande": ("reasoning", "general"),
    "gsm8k": ("math", "general"),
    "math": ("math", "science"),
    "agentverse-mgsm": ("math", "general"),
    "mmlu": ("question_answering", "general"),
    "natural_qa": ("question_answering", "general"),
    "trivia_qa": ("question_answering", "general"),
    "commonsense_qa": ("reasoning", "general"),
    "openbook_qa": ("question_answering", "science"),
    "gpqa": ("question_answering", "science"),
    "agentverse-logicgrid": ("reasoning", "general"),
    "commongen": ("creative_writing", "general"),
}

MODEL_KEYS = {
    "name", "provider", "api_model_id", "input_price_per_mtok", "output_price_per_mtok",
    "context_window", "license", "parameters_b", "is_generalist", "capabilities", "latency_ms_p50",
    "tokens_per_second", "benchmarks", "is_active", *DECLARED_METRICS,
}
CATALOG_ONLY_KEYS = {"price_source", "declared_metrics_source"}


class EvaluationImportError(OptiRouteError):
    code = "invalid_import"

    def __init__(self, errors: list[str]) -> None:
        shown = errors[:MAX_ERRORS]
        more = f" (and {len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
        super().__init__("; ".join(shown) + more, details={"errors": shown})
        self.errors = shown


@dataclass
class PromptRow:
    prompt_id: str
    text: str
    task_type: str = ""
    domain: str = ""
    split: str = "train"
    source_label: str = ""


@dataclass
class ResultRow:
    prompt_id: str
    model: str
    score: float
    cost_usd: float | None = None
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass
class ParsedData:
    fmt: str
    prompts: list[PromptRow] = field(default_factory=list)
    results: list[ResultRow] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    # Provider for models the data names but does not describe (public formats).
    default_provider: str = ""
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + count


class Errors:
    """Collects errors; raises them all at once."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, reason: str) -> None:
        self.items.append(f"{where}: {reason}")

    def raise_if_any(self) -> None:
        if self.items:
            raise EvaluationImportError(self.items)


def read_text(path: Path, errors: Errors) -> str | None:
    """The file's text, or None after recording why it cannot be read."""
    size = path.stat().st_size
    if size > settings.OPTIROUTE_MAX_UPLOAD_BYTES:
        errors.add(path.name, f"file is {size} bytes, over the limit of {settings.OPTIROUTE_MAX_UPLOAD_BYTES}")
        return None
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        errors.add(f"{path.name} line {line}", f"not valid UTF-8 (byte {exc.start})")
        return None
    if not text.strip():
        errors.add(path.name, "file is empty")
        return None
    return text


def parse(path: Path, fmt: str) -> ParsedData:
    if fmt not in FORMATS:
        raise EvaluationImportError([f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}"])
    if not path.exists():
        raise EvaluationImportError([f"{path}: no such file or folder"])
    parser = {"bundle": parse_bundle, "routerbench": parse_routerbench, "llmrouter": parse_llmrouter}[fmt]
    return parser(path)


# ---------------------------------------------------------------- canonical bundle


def parse_bundle(folder: Path) -> ParsedData:
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

    data.prompts = _bundle_prompts(prompts_file, errors)
    known_ids = {p.prompt_id for p in data.prompts}
    data.results = _bundle_results(result_files[0], known_ids, errors)
    if (folder / "models.json").exists():
        data.models = _bundle_models(folder / "models.json", errors, data.warnings)
    errors.raise_if_any()
    return data


def _jsonl_objects(path: Path, errors: Errors) -> Iterator[tuple[int, dict[str, Any]]]:
    text = read_text(path, errors)
    if text is None:
        return
    # split on "\n" only: str.splitlines() also breaks on U+2028 and friends inside JSON strings.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.add(f"{path.name} line {number}", f"invalid JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            errors.add(f"{path.name} line {number}", "expected a JSON object")
            continue
        yield number, obj


def _bundle_prompts(path: Path, errors: Errors) -> list[PromptRow]:
    rows: list[PromptRow] = []
    first_seen: dict[str, int] = {}
    for number, obj in _jsonl_objects(path, errors):
        where = f"{path.name} line {number}"
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
        first_seen[prompt_id] = number
        rows.append(PromptRow(prompt_id, text, labels["task_type"], labels["domain"], split, labels["task_type"]))
    if not rows and not errors.items:
        errors.add(path.name, "no prompts")
    return rows


RESULT_COLUMNS = ("prompt_id", "model", "score")


def _result_records(path: Path, errors: Errors) -> Iterator[tuple[int, dict[str, Any]]]:
    if path.suffix == ".jsonl":
        yield from _jsonl_objects(path, errors)
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


def _bundle_results(path: Path, known_ids: set[str], errors: Errors) -> list[ResultRow]:
    rows: list[ResultRow] = []
    seen: dict[tuple[str, str], int] = {}
    for number, record in _result_records(path, errors):
        where = f"{path.name} line {number}"
        row = _result_row(record, where, errors)
        if row is None:
            continue
        if row.prompt_id not in known_ids:
            errors.add(where, f"prompt_id {row.prompt_id!r} is not in prompts.jsonl")
            continue
        key = (row.prompt_id, row.model)
        if key in seen:
            errors.add(where, f"duplicate result for prompt {row.prompt_id!r} and model {row.model!r} "
                              f"(first on line {seen[key]})")
            continue
        seen[key] = number
        rows.append(row)
    if not rows and not errors.items:
        errors.add(path.name, "no results")
    return rows


def _number(record: dict[str, Any], key: str, where: str, errors: Errors, *, low: float = 0.0,
            high: float = math.inf, required: bool = False) -> float | None:
    value = record.get(key)
    if value is None:
        if required:
            errors.add(where, f"{key} is required")
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors.add(where, f"{key} must be a number, got {value!r}")
        return None
    if math.isnan(number) or not low <= number <= high:
        bounds = f"between {low:g} and {high:g}" if high != math.inf else f">= {low:g}"
        errors.add(where, f"{key} must be {bounds}, got {value!r}")
        return None
    return number


def _result_row(record: dict[str, Any], where: str, errors: Errors) -> ResultRow | None:
    before = len(errors.items)
    prompt_id, model = record.get("prompt_id"), record.get("model")
    if not isinstance(prompt_id, str) or not prompt_id.strip():
        errors.add(where, "prompt_id is required")
    if not isinstance(model, str) or not model.strip():
        errors.add(where, "model is required")
    score = _number(record, "score", where, errors, high=1.0, required=True)
    cost = _number(record, "cost_usd", where, errors)
    latency = _number(record, "latency_ms", where, errors)
    tokens_in = _number(record, "input_tokens", where, errors)
    tokens_out = _number(record, "output_tokens", where, errors)
    if len(errors.items) > before or score is None:
        return None
    return ResultRow(str(prompt_id), str(model), score, cost, latency,
                     None if tokens_in is None else int(tokens_in),
                     None if tokens_out is None else int(tokens_out))


def _bundle_models(path: Path, errors: Errors, warnings: list[str]) -> list[dict[str, Any]]:
    text = read_text(path, errors)
    if text is None:
        return []
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        errors.add(f"{path.name} line {exc.lineno}", f"invalid JSON ({exc.msg})")
        return []
    if not isinstance(items, list):
        errors.add(path.name, "expected a JSON list of model objects")
        return []
    return validate_models(items, path.name, errors, warnings)


def validate_models(items: list[Any], source: str, errors: Errors, warnings: list[str],
                    allowed_extra: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    specs: list[dict[str, Any]] = []
    names: set[str] = set()
    for index, item in enumerate(items):
        where = f"{source} item {index + 1}"
        spec = validate_model(item, where, errors, warnings, allowed_extra)
        if spec is None:
            continue
        if spec["name"] in names:
            errors.add(where, f"duplicate model name {spec['name']!r}")
            continue
        names.add(spec["name"])
        specs.append(spec)
    return specs


def validate_model(item: Any, where: str, errors: Errors, warnings: list[str],
                   allowed_extra: frozenset[str] = frozenset()) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        errors.add(where, "expected a JSON object")
        return None
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.add(where, "name is required")
        return None
    before = len(errors.items)
    spec: dict[str, Any] = {"name": name.strip()}
    for key in sorted(set(item) - MODEL_KEYS - allowed_extra):
        warnings.append(f"{where} ({name}): unknown key {key!r} ignored")
    for key in ("input_price_per_mtok", "output_price_per_mtok", "parameters_b", "latency_ms_p50", "tokens_per_second"):
        spec[key] = _number(item, key, where, errors)
    for key in DECLARED_METRICS:
        spec[key] = _number(item, key, where, errors, high=1.0)
    window = _number(item, "context_window", where, errors, low=1)
    spec["context_window"] = None if window is None else int(window)
    for key in ("provider", "api_model_id", "license"):
        value = item.get(key, "")
        if not isinstance(value, str):
            errors.add(where, f"{key} must be a string")
        spec[key] = value if isinstance(value, str) else ""
    for key in ("is_generalist", "is_active"):
        if key in item and not isinstance(item[key], bool):
            errors.add(where, f"{key} must be true or false")
    spec["is_generalist"] = bool(item.get("is_generalist", False))
    spec["is_active"] = bool(item.get("is_active", True))
    spec["capabilities"] = _string_list(item.get("capabilities", []), "capabilities", where, errors)
    spec["benchmarks"] = _benchmarks(item.get("benchmarks", []), where, errors)
    spec["sources"] = {key: item[key] for key in CATALOG_ONLY_KEYS & set(item)}
    return spec if len(errors.items) == before else None


def _string_list(value: Any, key: str, where: str, errors: Errors) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.add(where, f"{key} must be a list of strings")
        return []
    return list(value)


def _benchmarks(value: Any, where: str, errors: Errors) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        errors.add(where, "benchmarks must be a list")
        return []
    clean = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            errors.add(where, "each benchmark needs a name")
            continue
        score = _number(item, "score", f"{where} benchmark {item['name']}", errors, high=1.0, required=True)
        if score is not None:
            clean.append({"name": item["name"], "score": score, "task_type": str(item.get("task_type", "")),
                          "source": str(item.get("source", ""))})
    return clean


# ---------------------------------------------------------------- public formats


def _labels(source_label: str) -> tuple[str, str]:
    return SOURCE_LABELS.get(source_label.lower(), ("", ""))


def _split_of(path: Path) -> str:
    return "test" if re.search(r"(^|[_\-.])test([_\-.]|$)", path.stem) else "train"


def parse_routerbench(path: Path) -> ParsedData:
    """RouterBench CSVs (as RouterDC re-split them): one row per prompt, one column per model."""
    errors = Errors()
    data = ParsedData(fmt="routerbench", default_provider="routerbench")
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        raise EvaluationImportError([f"{path}: no CSV files"])
    # Train files first, so that test prompts duplicating train ones can be recognised.
    files.sort(key=lambda f: (_split_of(f) != "train", f.name))
    csv.field_size_limit(1 << 30)
    seen_ids: dict[str, set[str]] = {"train": set(), "test": set()}
    train_texts: set[str] = set()
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
        file_models = [c for c in columns if "|" not in c and c not in
                       {"", "Unnamed: 0", "sample_id", "prompt", "eval_name", "oracle_model_to_route_to"}]
        if not file_models:
            errors.add(f"{file.name} line 1", "no model columns")
            continue
        models.extend(m for m in file_models if m not in models)
        split = _split_of(file)
        for record in reader:
            _routerbench_row(record, file, reader.line_num, split, file_models, data, errors,
                             seen_ids, train_texts)
    errors.raise_if_any()
    data.models = [{"name": m} for m in models]
    return data


def _routerbench_row(record: dict[str, str], file: Path, line: int, split: str, models: list[str],
                     data: ParsedData, errors: Errors, seen_ids: dict[str, set[str]],
                     train_texts: set[str]) -> None:
    sample_id = record["sample_id"]
    where = f"{file.name} line {line}"
    try:
        text = ast.literal_eval(record["prompt"])[0] if record["prompt"].startswith("[") else record["prompt"]
    except (ValueError, SyntaxError, IndexError):
        errors.add(where, "prompt is not a readable list literal")
        return
    # Identity checks come first, so every copy of a duplicated or leaked id is counted as such.
    if sample_id in seen_ids[split]:
        data.drop("duplicate ids")
        return
    seen_ids[split].add(sample_id)
    if split == "test" and (sample_id in seen_ids["train"] or text in train_texts):
        data.drop("test prompts also in train")
        return
    if split == "train":
        train_texts.add(text)
    scores: dict[str, float] = {}
    for model in models:
        raw = record.get(model, "")
        try:
            score = float(raw)
        except ValueError:
            score = math.nan
        if math.isnan(score):
            data.drop("missing scores")
            return
        if not 0.0 <= score <= 1.0:
            errors.add(where, f"score of {model} must be between 0 and 1, got {raw!r}")
            return
        scores[model] = score
    task_type, domain = _labels(record["eval_name"])
    data.prompts.append(PromptRow(sample_id, text, task_type, domain, split, record["eval_name"]))
    for model, score in scores.items():
        cost = _optional_float(record.get(f"{model}|total_cost"))
        data.results.append(ResultRow(sample_id, model, score, cost))


def _optional_float(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw not in (None, "") else None
    except ValueError:
        return None
    return None if value is None or math.isnan(value) or value < 0 else value


def parse_llmrouter(path: Path) -> ParsedData:
    """LLMRouter's routing_data.jsonl (scores per model) with llm_candidates.json (prices)."""
    errors = Errors()
    data = ParsedData(fmt="llmrouter", default_provider="llmrouter")
    folder = path if path.is_dir() else path.parent
    data_file = path if path.is_file() else folder / "routing_data.jsonl"
    candidates_file = folder / "llm_candidates.json"
    for required in (data_file, candidates_file):
        if not required.exists():
            errors.add(folder.name, f"{required.name} is missing")
    errors.raise_if_any()
    candidates = _llmrouter_candidates(candidates_file, errors)
    records = sorted(_jsonl_objects(data_file, errors), key=lambda item: item[1].get("split") != "train")
    seen: dict[str, set[str]] = {"train": set(), "test": set()}
    scored_models: list[str] = []
    for number, obj in records:
        _llmrouter_row(obj, f"{data_file.name} line {number}", data, errors, seen, scored_models)
    unknown = [m for m in scored_models if m not in candidates]
    if unknown:
        errors.add(candidates_file.name, f"no prices for scored model(s): {', '.join(unknown)}")
    errors.raise_if_any()
    data.models = [candidates[m] for m in scored_models]
    return data


def _llmrouter_candidates(path: Path, errors: Errors) -> dict[str, dict[str, Any]]:
    text = read_text(path, errors)
    if text is None:
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        errors.add(f"{path.name} line {exc.lineno}", f"invalid JSON ({exc.msg})")
        return {}
    models = {}
    for name, info in raw.items() if isinstance(raw, dict) else []:
        size = re.match(r"([\d.]+)\s*B", str(info.get("size", "")), re.IGNORECASE)
        models[name] = {
            "name": name, "api_model_id": str(info.get("model", "")),
            "input_price_per_mtok": _optional_float(str(info.get("input_price", ""))),
            "output_price_per_mtok": _optional_float(str(info.get("output_price", ""))),
            "parameters_b": float(size.group(1)) if size else None,
        }
    if not models:
        errors.add(path.name, "expected an object keyed by model name")
    return models


def _llmrouter_row(obj: dict[str, Any], where: str, data: ParsedData, errors: Errors,
                   seen: dict[str, set[str]], scored_models: list[str]) -> None:
    query, split, scores = obj.get("query"), obj.get("split", "train"), obj.get("scores")
    if not isinstance(query, str) or not query.strip() or split not in seen or not isinstance(scores, dict):
        errors.add(where, "needs query (string), split (train/test) and scores (object)")
        return
    clean: dict[str, float] = {}
    for model, value in scores.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            data.drop("missing scores")
            return
        if not isinstance(value, (int, float)) or not 0 <= value <= 1:
            errors.add(where, f"score of {model} must be between 0 and 1, got {value!r}")
            return
        clean[model] = float(value)
    key = query.strip()
    if key in seen[split]:
        data.drop("duplicate ids")
        return
    if split == "test" and key in seen["train"]:
        data.drop("test prompts also in train")
        return
    seen[split].add(key)
    prompt_id = f"{split}-{obj.get('idx', len(data.prompts))}"
    label = str(obj.get("task_name", ""))
    task_type, domain = _labels(label)
    data.prompts.append(PromptRow(prompt_id, query, task_type, domain, split, label))
    for model, score in clean.items():
        if model not in scored_models:
            scored_models.append(model)
        data.results.append(ResultRow(prompt_id, model, score))
