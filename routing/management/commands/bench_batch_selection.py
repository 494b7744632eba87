import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from optiroute.api_errors import OptiRouteError
from routing.evaluation.bench_batch import bench_batch_selection


class Command(BaseCommand):
    help = "Time batch mode's choice (embedding, clustering, sample, evidence) for a batch of N prompts of a dataset."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--n", type=int, default=10_000)
        parser.add_argument("--out", required=True, type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["n"] < 1:
            raise CommandError("--n must be at least 1")
        try:
            report = bench_batch_selection(dataset_name=options["dataset"], n=options["n"])
        except OptiRouteError as exc:
            raise CommandError(exc.message) from exc
        options["out"].parent.mkdir(parents=True, exist_ok=True)
        options["out"].write_text(json.dumps(report, indent=2))
        self.stdout.write(f"{report['n']} requests: chosen in {report['seconds']} s "
                          f"(sample {report['sample_size']}, {report['clusters']} clusters)")
