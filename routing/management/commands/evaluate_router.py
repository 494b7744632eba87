import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from optiroute.api_errors import OptiRouteError
from routing.evaluation.harness import evaluate, plot


class Command(BaseCommand):
    help = "Route a dataset's test prompts with its train split as evidence; sweep the cost weight; report."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--strategy", action="append", help="a strategy to evaluate (default: all)")
        parser.add_argument("--plot", type=Path)
        parser.add_argument("--dimension", default="accuracy",
                            help="what to route and score on: accuracy (default), helpfulness, harmlessness, honesty, "
                                 "steerability or creativity")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = evaluate(dataset_name=options["dataset"], strategies=options["strategy"],
                              dimension=options["dimension"])
        except OptiRouteError as exc:
            raise CommandError(exc.message) from exc
        options["out"].parent.mkdir(parents=True, exist_ok=True)
        options["out"].write_text(json.dumps(report, indent=2))
        if options["plot"]:
            options["plot"].parent.mkdir(parents=True, exist_ok=True)
            plot(report, str(options["plot"]))
        best = report["baselines"]["best_single"]
        self.stdout.write(f"best single {best['model']}: quality {best['quality']:.4f} at ${best['cost_per_1k']:.4f}/1k")
        for name, data in report["strategies"].items():
            self.stdout.write(f"{name}: AIQ {data['aiq']:.4f}; {report['targets'][name]}")
        fitted = report["baselines"].get("cascade_fitted_on_test")
        if fitted:
            kept = {k: v for k, v in fitted.items() if k.startswith("quality_ratio")}
            self.stdout.write(f"reference, cascade fitted on the test split's outcomes: AIQ {fitted['aiq']:.4f}; {kept}")
        self.stdout.write(f"default strategy: {report['default_strategy']}; report written to {options['out']}")
