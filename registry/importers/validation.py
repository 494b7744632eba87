"""What every format's parser shares: the parsed rows, error collection, reading files, checking
numbers and model descriptions, and the cleaning of the caveats public data's READMEs list.

A parser reads and validates everything before anything touches the database, so a bad
file refuses the import as a whole with messages naming file, line and reason.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from optiroute.api_errors import OptiRouteError
from registry.models import DECLARED_METRICS, Dimension

MAX_ERRORS = 50

MODEL_KEYS = {
    "name", "provider", "api_model_id", "input_price_per_mtok", "output_price_per_mtok",
    "context_window", "license", "parameters_b", "is_generalist", "capabilities", "latency_ms_p50",
    "tokens_per_second", "benchmarks", "is_active", *DECLARED_METRICS,
}
CATALOG_ONLY_KEYS = {"price_source", "declared_metrics_source"}

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
    response: str = ""
    dimension: str = Dimension.ACCURACY.value

    def content(self) -> dict[str, Any]:
        """The row as the dataset's content hash sees it.

        Fields added after the hash was introduced are left out at their defaults, so data
        without them keeps the hash it had and is not imported again for nothing."""
        fields = asdict(self)
        for key in ("response", "dimension"):
            if fields[key] == ResultRow.__dataclass_fields__[key].default:
                del fields[key]
        return fields


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


# ---------------------------------------------------------------- reading


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


def jsonl_objects(path: Path, errors: Errors) -> Iterator[tuple[int, dict[str, Any]]]:
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


def json_document(path: Path, errors: Errors, expected: type, what: str) -> Any:
    """The file's JSON value if it is of the expected type, or None after recording why not."""
    text = read_text(path, errors)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        errors.add(f"{path.name} line {exc.lineno}", f"invalid JSON ({exc.msg})")
        return None
    if not isinstance(value, expected):
        errors.add(path.name, f"expected {what}")
        return None
    return value


def list_literal(raw: str) -> str:
    """The one string of a Python list literal such as "['text']" (RouterBench's cells); plain text as is.

    Raises ValueError or SyntaxError where the cell looks like a list literal but is not one."""
    if not raw.startswith("["):
        return raw
    try:
        return str(ast.literal_eval(raw)[0])
    except IndexError as exc:
        raise ValueError("empty list") from exc


# ---------------------------------------------------------------- values


def number(record: dict[str, Any], key: str, where: str, errors: Errors, *, low: float = 0.0,
           high: float = math.inf, required: bool = False) -> float | None:
    value = record.get(key)
    if value is None:
        if required:
            errors.add(where, f"{key} is required")
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        errors.add(where, f"{key} must be a number, got {value!r}")
        return None
    if math.isnan(result) or not low <= result <= high:
        bounds = f"between {low:g} and {high:g}" if high != math.inf else f">= {low:g}"
        errors.add(where, f"{key} must be {bounds}, got {value!r}")
        return None
    return result


def optional_float(raw: str | None) -> float | None:
    """A non-negative number, or None where the cell is empty or unreadable."""
    try:
        value = float(raw) if raw not in (None, "") else None
    except ValueError:
        return None
    return None if value is None or math.isnan(value) or value < 0 else value


def dimension_of(record: dict[str, Any], where: str, errors: Errors) -> str | None:
    value = record.get("dimension") or Dimension.ACCURACY.value
    if value not in Dimension.values:
        errors.add(where, f"dimension must be one of {', '.join(Dimension.values)}, got {value!r}")
        return None
    return str(value)


def response_of(record: dict[str, Any], where: str, errors: Errors) -> str | None:
    value = record.get("response")
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.add(where, f"response must be a string, got {type(value).__name__}")
        return None
    return value


# ---------------------------------------------------------------- model descriptions


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
        spec[key] = number(item, key, where, errors)
    for key in DECLARED_METRICS:
        spec[key] = number(item, key, where, errors, high=1.0)
    window = number(item, "context_window", where, errors, low=1)
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
        score = number(item, "score", f"{where} benchmark {item['name']}", errors, high=1.0, required=True)
        if score is not None:
            clean.append({"name": item["name"], "score": score, "task_type": str(item.get("task_type", "")),
                          "source": str(item.get("source", ""))})
    return clean


# ---------------------------------------------------------------- public data: labels and caveats


def labels(source_label: str) -> tuple[str, str]:
    """The task type and domain of a public benchmark's label, ("", "") where unknown."""
    return SOURCE_LABELS.get(source_label.lower(), ("", ""))


def split_of(path: Path) -> str:
    return "test" if re.search(r"(^|[_\-.])test([_\-.]|$)", path.stem) else "train"


class Caveats:
    """Drops what public data's READMEs list under Caveats, counting each reason in `data.dropped`:
    duplicate ids, test prompts that also appear in the train split, and rows with missing scores.

    Feed train rows before test rows, so that a test prompt duplicating a train one is recognised.
    """

    def __init__(self, data: ParsedData) -> None:
        self.data = data
        self.ids: dict[str, set[str]] = {"train": set(), "test": set()}
        self.train_texts: set[str] = set()

    def admit(self, prompt_id: str, text: str, split: str) -> bool:
        """Whether a prompt is new; its id is taken either way, so every later copy is dropped."""
        if prompt_id in self.ids[split]:
            self.data.drop("duplicate ids")
            return False
        self.ids[split].add(prompt_id)
        if split == "test" and (prompt_id in self.ids["train"] or text in self.train_texts):
            self.data.drop("test prompts also in train")
            return False
        if split == "train":
            self.train_texts.add(text)
        return True

    def scores(self, values: dict[str, Any], where: str, errors: Errors) -> dict[str, float] | None:
        """Each model's 0..1 score; None where the row is dropped (a score is missing) or refused."""
        clean: dict[str, float] = {}
        for model, value in values.items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                self.data.drop("missing scores")
                return None
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                errors.add(where, f"score of {model} must be between 0 and 1, got {value!r}")
                return None
            clean[model] = float(value)
        return clean


# ---------------------------------------------------------------- public data without a split or prices

TRAIN_SHARE = 0.7
SPLIT_SEED = "optiroute-split-1"


def seeded_split(prompt_ids: Iterable[str], seed: str = SPLIT_SEED) -> dict[str, str]:
    """A 70/30 train/test split by prompt, the same on every import: the ids ordered by a
    seeded hash of each, the first 70% train."""
    ordered = sorted(set(prompt_ids), key=lambda pid: hashlib.sha256(f"{seed}:{pid}".encode()).hexdigest())
    n_train = round(TRAIN_SHARE * len(ordered))
    return {pid: "train" if i < n_train else "test" for i, pid in enumerate(ordered)}


@dataclass
class Judgement:
    """One model's score on one prompt as a public dataset records it (None: missing)."""

    prompt_id: str
    model: str
    score: float | None
    output_tokens: int | None = None


def long_format(data: ParsedData, prompts: list[PromptRow], judgements: Iterable[Judgement], dimension: str,
                prices: Path, errors: Errors) -> ParsedData:
    """Fill `data` from prompts without a split and one judgement per (prompt, model): the seeded
    split, then the caveats (duplicate ids, test prompts repeating a train prompt's text, repeated
    or missing scores), each counted in `data.dropped`; the models with the prices of `prices`
    (priced_models). Refuses the import on any error."""
    errors.raise_if_any()
    splits = seeded_split(p.prompt_id for p in prompts)
    caveats = Caveats(data)
    admitted: set[str] = set()
    for prompt in sorted(prompts, key=lambda p: splits[p.prompt_id] != "train"):
        prompt.split = splits[prompt.prompt_id]
        if caveats.admit(prompt.prompt_id, prompt.text, prompt.split):
            data.prompts.append(prompt)
            admitted.add(prompt.prompt_id)
    seen: set[tuple[str, str]] = set()
    for judgement in judgements:
        key = (judgement.prompt_id, judgement.model)
        if judgement.prompt_id not in admitted:
            data.drop("results of dropped prompts")
        elif key in seen:
            data.drop("duplicate results")
        elif judgement.score is None or math.isnan(judgement.score):
            data.drop("missing scores")
        elif not 0.0 <= judgement.score <= 1.0:
            errors.add(f"prompt {judgement.prompt_id}, model {judgement.model}",
                       f"score must be between 0 and 1, got {judgement.score!r}")
        else:
            seen.add(key)
            data.results.append(ResultRow(judgement.prompt_id, judgement.model, judgement.score,
                                          output_tokens=judgement.output_tokens, dimension=dimension))
    data.models = priced_models({r.model for r in data.results}, prices, errors)
    errors.raise_if_any()
    return data


def public_folder(path: Path, required: tuple[str, ...], errors: Errors) -> Path:
    """The data folder (the path, or a file's folder); refuses the import where a file is missing."""
    folder = path if path.is_dir() else path.parent
    for name in required:
        if not (folder / name).exists():
            errors.add(folder.name, f"{name} is missing")
    errors.raise_if_any()
    return folder


def csv_rows(path: Path, columns: tuple[str, ...], errors: Errors) -> list[dict[str, str]]:
    """A CSV file's rows, or none after recording why not (unreadable, a required column missing)."""
    text = read_text(path, errors)
    if text is None:
        return []
    csv.field_size_limit(1 << 30)
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        errors.add(f"{path.name} line 1", f"missing column(s): {', '.join(missing)}")
        return []
    return list(reader)


def priced_models(names: Iterable[str], table: Path, errors: Errors) -> list[dict[str, Any]]:
    """The models a public dataset names, with the published list prices of `table` (a JSON file
    beside the adapter: {"models": {name: {input_price_per_mtok, output_price_per_mtok, source,
    as_of, ...}}}). A model without a published price is registered without one and inactive:
    routing never chooses it, and its results stay evidence about the others' prompts."""
    raw = json_document(table, errors, dict, "an object with a \"models\" object")
    prices = raw.get("models", {}) if isinstance(raw, dict) else {}
    specs = []
    for name in sorted(set(names)):
        entry = prices.get(name) or {}
        price_in, price_out = entry.get("input_price_per_mtok"), entry.get("output_price_per_mtok")
        priced = isinstance(price_in, (int, float)) and isinstance(price_out, (int, float))
        figures = (float(price_in), float(price_out)) if priced else (None, None)  # type: ignore[arg-type]
        source = (f"{entry.get('source', '')} (as of {entry.get('as_of', 'unknown')})" if priced
                  else f"no published list price: {entry.get('note', 'none found')}")
        specs.append({"name": name, "api_model_id": str(entry.get("api_model_id", "")),
                      "input_price_per_mtok": figures[0], "output_price_per_mtok": figures[1],
                      "is_active": priced, "sources": {"price_source": source}})
    return specs


def number_or_none(raw: str) -> float | None:
    """A CSV cell's number; None where it is empty or not a number (a missing score)."""
    try:
        return float(raw)
    except ValueError:
        return None
