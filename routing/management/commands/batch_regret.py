import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from optiroute.api_errors import OptiRouteError
from routing.batches.selection import MODES, TOP_N
from routing.evaluation.batch_regret import PROFILES, batch_regret


class Command(BaseCommand):
    help = ("Each task type of a dataset's test split as a batch: choose its model from a sample as batch mode "
            "does, then measure the regret against the hindsight-best model per profile.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--mode", choices=MODES, default="graded")
        parser.add_argument("--top-n", type=int, default=TOP_N, help="candidates graded on the sample")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["top_n"] < 1:
            raise CommandError("--top-n must be at least 1")
        try:
            report = batch_regret(dataset_name=options["dataset"], mode=options["mode"], top_n=options["top_n"])
        except OptiRouteError as exc:
            raise CommandError(exc.message) from exc
        options["out"].parent.mkdir(parents=True, exist_ok=True)
        options["out"].write_text(json.dumps(report, indent=2))
        for row in report["batches"]:
            self.stdout.write(
                f"{row['task_type']} ({row['size']} rows, sample {row['sample_size']}) {row['profile']}: "
                f"{row['chosen']} q={row['quality']:.4f} [{row['interval'][0]:.3f}, {row['interval'][1]:.3f}] "
                f"${row['cost_per_1k']:.4f}/1k; best {row['hindsight_best']} q={row['hindsight_quality']:.4f}; "
                f"regret {row['regret']:.4f}; sample ${row['sample_cost_usd']:.4f}")
        regrets = ", ".join(f"{p} {report['mean_regret'][p]:.4f}" for p in PROFILES)
        self.stdout.write(f"mean regret: {regrets}; coverage {report['coverage']:.2f}; "
                          f"report written to {options['out']}")
