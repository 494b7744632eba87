from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from optiroute.api_errors import OptiRouteError
from routing.access.keys import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a cohort (default: the default cohort). The key is shown once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cohort", default=None)
        parser.add_argument("--label", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            key, raw = api_key_create(cohort_name=options["cohort"], label=options["label"])
        except OptiRouteError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"API key for cohort {key.cohort.name} (store it now: it is not shown again):")
        self.stdout.write(raw)
