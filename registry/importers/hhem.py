"""Vectara's hallucination leaderboard, v1 (honesty): per-article HHEM-2.3 factual-consistency
scores of each model's summary.

The folder's README: score = hhem_score of valid summaries; invalid ones (refusals, errors) are
not hallucinations and are dropped as missing. The articles themselves are not in the data, so
a prompt's text is the summarisation instruction with one model's summary of the article
(openai/gpt-oss-120b's, the README's proxy) standing in for it: topic and entities, no more.
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

INSTRUCTION = ("Provide a concise summary of the following passage, covering the core pieces of information "
               "described.\n\n")
PROXY = "proxy_summaries_gpt-oss-120b.jsonl"
PRICES = Path(__file__).parent / "prices" / "hhem.json"
TOKENS_PER_WORD = 4 / 3


def parse(path: Path) -> ParsedData:
    errors = Errors()
    data = ParsedData(fmt="hhem", default_provider="hhem")
    folder = public_folder(path, ("scores.csv", PROXY), errors)
    prompts = [PromptRow(str(obj["article_id"]), INSTRUCTION + obj["summary"], "summarization",
                         source_label="hhem-summary") for _, obj in jsonl_objects(folder / PROXY, errors)
               if "article_id" in obj and isinstance(obj.get("summary"), str) and obj["summary"].strip()]
    judgements = []
    for record in csv_rows(folder / "scores.csv", ("model", "article_id", "hhem_score", "is_valid"), errors):
        words = record.get("word_count") or ""
        score = number_or_none(record["hhem_score"]) if record["is_valid"] == "1" else None
        judgements.append(Judgement(record["article_id"], record["model"], score,
                                    round(int(words) * TOKENS_PER_WORD) if words.isdigit() else None))
    return long_format(data, prompts, judgements, Dimension.HONESTY.value, PRICES, errors)

