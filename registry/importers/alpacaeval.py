"""AlpacaEval 2.0 (helpfulness): per-instruction GPT-4-Turbo preferences against a fixed reference.

The folder's README: score = preference - 1 (the judge's probability that the model's answer
beats the reference's), 0 read as a draw (0.5), empty as missing. Only the AlpacaEval 2.0 config
(`weighted_alpaca_eval_gpt4_turbo`) is read: the two configs are on different scales. The
adversarial entries and the reference itself are dropped, as the README asks.
"""

from __future__ import annotations

from pathlib import Path

from registry.importers.validation import (
    Errors,
    Judgement,
    ParsedData,
    PromptRow,
    csv_rows,
    jsonl_objects,
    long_format,
    number_or_none,
    public_folder,
)
from registry.models import Dimension
from registry.tokens import CHARS_PER_TOKEN

CONFIG = "weighted_alpaca_eval_gpt4_turbo"
# NullModel and gpt4_gamed game the judge; gpt4_1106_preview is the reference (always 0.5).
EXCLUDED = {"NullModel", "gpt4_gamed", "gpt4_1106_preview"}
PRICES = Path(__file__).parent / "prices" / "alpacaeval.json"


def parse(path: Path) -> ParsedData:
    errors = Errors()
    data = ParsedData(fmt="alpacaeval", default_provider="alpacaeval")
    folder = public_folder(path, ("instructions.jsonl", "judgments.csv"), errors)
    prompts = [PromptRow(str(obj["instruction_id"]), obj["instruction"], source_label=str(obj.get("dataset", "")))
               for _, obj in jsonl_objects(folder / "instructions.jsonl", errors)
               if "instruction_id" in obj and isinstance(obj.get("instruction"), str)]
    judgements = []
    for record in csv_rows(folder / "judgments.csv", ("annotator_config", "model", "instruction_id", "preference"),
                           errors):
        if record["annotator_config"] != CONFIG:
            continue
        if record["model"] in EXCLUDED:
            data.drop("adversarial entries and the reference")
            continue
        chars = record.get("output_chars") or ""
        judgements.append(Judgement(record["instruction_id"], record["model"], _score(record["preference"]),
                                    int(chars) // CHARS_PER_TOKEN if chars.isdigit() else None))
    return long_format(data, prompts, judgements, Dimension.HELPFULNESS.value, PRICES, errors)


def _score(raw: str) -> float | None:
    """preference - 1 (1: the reference won, 2: the model won); 0 is a draw; empty is missing."""
    preference = number_or_none(raw)
    if preference is None:
        return None
    return 0.5 if preference == 0 else preference - 1.0
