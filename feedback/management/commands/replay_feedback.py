import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from feedback.replay import DEFAULT_EXPLORATION, replay_feedback, replay_plot
from optiroute.api_errors import OptiRouteError


class Command(BaseCommand):
    help = ("Measure the feedback loop: start from a seeded share of a dataset's train prompts, replay the "
            "others as traffic in rounds (routed with profile balanced and exploration on, answered by the "
            "chosen model's recorded result, rated up at score >= 0.5 else down, folded), and score the "
            "router on the test split after each round. Simulated users: one API key per traffic prompt, "
            "so the rater cap bounds each user while the cohort's feedback counts (feedback/replay.py).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--start-share", type=float, default=0.1)
        parser.add_argument("--rounds", type=int, default=5)
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--exploration", type=float, default=DEFAULT_EXPLORATION,
                            help=f"share of traffic routed by Thompson sampling (default {DEFAULT_EXPLORATION})")
        parser.add_argument("--plot", type=Path, help="a PNG of the curve (default: beside --out)")

    def handle(self, *args: Any, **options: Any) -> None:
        out: Path = options["out"]
        out.parent.mkdir(parents=True, exist_ok=True)
        try:  # the report so far is written after each round, so a long replay shows its progress
            report = replay_feedback(dataset_name=options["dataset"], start_share=options["start_share"],
                                     rounds=options["rounds"], seed=options["seed"],
                                     exploration=options["exploration"], progress=self.stdout.write,
                                     checkpoint=lambda so_far: out.write_text(json.dumps(so_far, indent=2)))
        except OptiRouteError as exc:
            raise CommandError(exc.message) from exc
        out.write_text(json.dumps(report, indent=2))
        plot = options["plot"] or out.with_suffix(".png")
        plot.parent.mkdir(parents=True, exist_ok=True)
        replay_plot(report, str(plot))
        self.stdout.write(f"report written to {out}, chart to {plot}")
