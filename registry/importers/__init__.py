"""Parsers for evaluation data: the canonical bundle and adapters for public layouts.

Each format is one module with a `parse(path) -> ParsedData`; adding a format is a new module
and one line in ADAPTERS. The shared rows, errors and checks live in `validation`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from registry.importers import alpacaeval, bundle, hhem, llmrouter, routerbench, sysbench, xstest
from registry.importers.validation import (
    Errors,
    EvaluationImportError,
    ParsedData,
    PromptRow,
    ResultRow,
    validate_models,
)

ADAPTERS: dict[str, Callable[[Path], ParsedData]] = {
    "bundle": bundle.parse,
    "routerbench": routerbench.parse,
    "llmrouter": llmrouter.parse,
    "alpacaeval": alpacaeval.parse,
    "xstest": xstest.parse,
    "hhem": hhem.parse,
    "sysbench": sysbench.parse,
}
FORMATS = tuple(ADAPTERS)

__all__ = ["FORMATS", "Errors", "EvaluationImportError", "ParsedData", "PromptRow", "ResultRow", "parse",
           "validate_models"]


def parse(path: Path, fmt: str) -> ParsedData:
    if fmt not in ADAPTERS:
        raise EvaluationImportError([f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}"])
    if not path.exists():
        raise EvaluationImportError([f"{path}: no such file or folder"])
    return ADAPTERS[fmt](path)
