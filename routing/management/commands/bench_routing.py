import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from registry.embedder import get_embedder
from registry.models import Dataset, Prompt
from registry.tokens import estimate_tokens
from routing.access.keys import api_key_create
from routing.models import Decision
from routing.pipeline import decision_make
from routing.recorder import recorder

MAX_PROMPT_TOKENS = 512
WARMUP = 20


class Command(BaseCommand):
    help = "Time N routing decisions (as the API makes them, no LLM call), C at a time."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--n", type=int, default=1000)
        parser.add_argument("--concurrency", type=int, default=8)
        parser.add_argument("--out", required=True, type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        n, concurrency = options["n"], options["concurrency"]
        if n < 1 or concurrency < 1:
            raise CommandError("--n and --concurrency must be at least 1")
        texts = self.prompts(options["dataset"])
        key, _ = api_key_create(cohort_name=None, label="bench_routing")
        for text in texts[:WARMUP]:
            decision_make(text=text, cohort=key.cohort, api_key=key)
        work = [texts[i % len(texts)] for i in range(n)]

        def timed(text: str) -> float:
            start = time.perf_counter()
            try:
                decision_make(text=text, cohort=key.cohort, api_key=key)
            finally:
                connection.close_if_unusable_or_obsolete()
            return (time.perf_counter() - start) * 1000

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            latencies = list(pool.map(timed, work))
        elapsed = time.perf_counter() - started
        recorder.flush()  # every decision stored before the report (not timed: the API does not wait)
        # They measured the router, not anyone's traffic: they and their key leave with the run.
        Decision.objects.filter(api_key=key).delete()
        key.delete()
        report = {"n": n, "concurrency": concurrency, "p50_ms": round(float(np.percentile(latencies, 50)), 3),
                  "p95_ms": round(float(np.percentile(latencies, 95)), 3),
                  "p99_ms": round(float(np.percentile(latencies, 99)), 3),
                  "decisions_per_s": round(n / elapsed, 1), "embedder": get_embedder().name,
                  "dataset": options["dataset"], "max_prompt_tokens": MAX_PROMPT_TOKENS}
        options["out"].parent.mkdir(parents=True, exist_ok=True)
        options["out"].write_text(json.dumps(report, indent=2))
        self.stdout.write(json.dumps(report))

    def prompts(self, name: str) -> list[str]:
        dataset = Dataset.objects.filter(name=name).first()
        if dataset is None:
            raise CommandError(f"unknown dataset {name!r}")
        texts = [t for t in Prompt.objects.filter(dataset=dataset).order_by("id").values_list("text", flat=True)
                 if estimate_tokens(t) <= MAX_PROMPT_TOKENS]
        if not texts:
            raise CommandError(f"dataset {name!r} has no prompt of at most {MAX_PROMPT_TOKENS} tokens")
        return texts
