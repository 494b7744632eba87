from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.importers import EvaluationImportError
from registry.services import models_import

STARTER_CATALOG = Path(__file__).resolve().parents[2] / "catalog" / "starter_catalog.json"


class Command(BaseCommand):
    help = "Register providers and models from a catalog file (default: the starter catalog)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, nargs="?", default=STARTER_CATALOG)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            warnings = models_import(path=options["path"])
        except EvaluationImportError as exc:
            raise CommandError("import refused, nothing was imported:\n  " + "\n  ".join(exc.errors)) from exc
        for warning in warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(self.style.SUCCESS(f"models registered from {options['path'].name}"))
