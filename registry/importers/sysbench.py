"""SysBench (steerability): whether a model's answer meets every constraint of the system message
and user turn, judged by GPT-4o against a checklist.

The folder's README: only the first turn of each dialogue is comparable across models (later
turns carry each model's own earlier answers as history), so the other turns are dropped and
counted. Score = the share of the turn's constraints met (n_yes / n_constraints, the paper's
CSR at turn level; "not applicable" and the like count as not met). The prompt is the system
message followed by the user's turn, as a request would carry both.
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
    public_folder,
)
from registry.models import Dimension

PRICES = Path(__file__).parent / "prices" / "sysbench.json"


def parse(path: Path) -> ParsedData:
    errors = Errors()
    data = ParsedData(fmt="sysbench", default_provider="sysbench")
    folder = public_folder(path, ("turns.jsonl", "judgments.csv"), errors)
    prompts = [PromptRow(str(obj.get("system_id")), f"{obj.get('system_prompt', '')}\n\n{obj.get('prompt', '')}".strip(),
                         source_label=str(obj.get("domain", "")))
               for _, obj in jsonl_objects(folder / "turns.jsonl", errors) if obj.get("round_index") == 1]
    judgements = []
    for record in csv_rows(folder / "judgments.csv",
                           ("run", "model", "system_id", "round_index", "n_constraints", "n_yes"), errors):
        if record["run"] != "main":
            data.drop("gt_history run (7 models, reference history)")
        elif record["round_index"] != "1":
            data.drop("turns after the first (history differs by model)")
        else:
            judgements.append(Judgement(record["system_id"], record["model"],
                                        _share(record["n_yes"], record["n_constraints"])))
    return long_format(data, prompts, judgements, Dimension.STEERABILITY.value, PRICES, errors)


def _share(met: str, total: str) -> float | None:
    try:
        return int(met) / int(total) if int(total) > 0 else None
    except ValueError:
        return None
