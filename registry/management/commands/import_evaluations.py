from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.importers import FORMATS, EvaluationImportError
from registry.services import evaluation_import


class Command(BaseCommand):
    help = "Import evaluation results (a bundle folder, or RouterBench / LLMRouter data) as a dataset."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--dataset", required=True, help="name of the dataset to create or replace")
        parser.add_argument("--format", dest="fmt", choices=FORMATS, default=None,
                            help="bundle (default for folders with prompts.jsonl), routerbench or llmrouter")
        parser.add_argument("--create-models", action="store_true",
                            help="register models that results name but nothing describes")

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        path: Path = options["path"]
        fmt = options["fmt"] or guess_format(path)
        try:
            report = evaluation_import(path=path, dataset_name=options["dataset"], fmt=fmt,
                                       create_models=options["create_models"], progress=self.progress)
        except EvaluationImportError as exc:
            raise CommandError("import refused, nothing was imported:\n  " + "\n  ".join(exc.errors)) from exc
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        if report.unchanged:
            self.stdout.write(f"dataset {report.dataset}: unchanged ({report.prompts} prompts, {report.results} results)")
            return
        dropped = ", ".join(f"{count} {reason}" for reason, count in report.dropped.items()) or "none"
        self.stdout.write(self.style.SUCCESS(
            f"dataset {report.dataset}: {report.prompts} prompts, {report.results} results imported; "
            f"models created: {len(report.models_created)}; rows dropped: {dropped}; "
            f"costs estimated: {report.costs_estimated}"))

    verbosity = 1

    def progress(self, stage: str, percent: int) -> None:
        if self.verbosity > 1:
            self.stderr.write(f"[{percent:3d}%] {stage}")


def guess_format(path: Path) -> str:
    if (path / "prompts.jsonl").exists() if path.is_dir() else path.name == "prompts.jsonl":
        return "bundle"
    if (path / "llm_candidates.json").exists() if path.is_dir() else path.suffix == ".jsonl":
        return "llmrouter"
    if path.suffix == ".csv" or (path.is_dir() and any(path.glob("*.csv"))):
        return "routerbench"
    return "bundle"
