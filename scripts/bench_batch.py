"""End-to-end batch throughput: a batch of N requests answered by two `celery worker` processes
against a local OpenAI-protocol server (a process of its own, answering after 50 ms). Loopback only.

Times the run from confirmation to the last answer (the model is named, so no sample is routed):
rows per second, and the time per row each worker spends beyond the provider's 50 ms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "optiroute.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from registry.models import LLM, Provider  # noqa: E402
from routing.access.keys import api_key_create  # noqa: E402
from routing.batches.services import batch_confirm, batch_create  # noqa: E402
from routing.models import Batch, Cohort, Decision  # noqa: E402

ROWS = int(os.environ.get("BENCH_BATCH_ROWS", "2000"))
WORKERS = 2
PROVIDER_DELAY_S = 0.05


def setup(provider_url: str) -> Batch:
    provider, _ = Provider.objects.update_or_create(name="bench-batch-local", defaults={
        "kind": "openai", "base_url": provider_url, "api_key_env": ""})
    LLM.objects.update_or_create(name="bench-batch-model", defaults={
        "provider": provider, "api_model_id": "fake-ok", "input_price_per_mtok": 0.1,
        "output_price_per_mtok": 0.4, "context_window": 32000})
    Cohort.objects.get_or_create(name="bench-batch")
    key, _ = api_key_create(cohort_name="bench-batch", label="bench_batch")
    requests = [{"custom_id": f"r{i}", "messages": [{"role": "user", "content": f"Label support ticket {i}."}]}
                for i in range(ROWS)]
    return batch_create(api_key=key, model="bench-batch-model", requests=requests, options={}, max_tokens=16)


def teardown() -> None:
    Decision.objects.filter(cohort__name="bench-batch").delete()  # their usage rows cascade
    Cohort.objects.filter(name="bench-batch").delete()  # its keys and batches cascade
    LLM.objects.filter(provider__name="bench-batch-local").delete()
    Provider.objects.filter(name="bench-batch-local").delete()


def wait_for(batch: Batch, *statuses: str, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while Batch.objects.get(pk=batch.pk).status not in statuses:
        if time.monotonic() > deadline:
            raise SystemExit(f"batch {batch.pk} did not reach {statuses}")
        time.sleep(0.2)


def main() -> None:
    provider = subprocess.Popen([sys.executable, "-m", "tests.openai_server", "--delay", str(PROVIDER_DELAY_S)],
                                cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert provider.stdout is not None
    provider_url = provider.stdout.readline().strip()
    env = {**os.environ, "REDIS_URL": settings.CELERY_BROKER_URL}
    workers = [subprocess.Popen([sys.executable, "-m", "celery", "-A", "optiroute", "worker", "--pool", "solo",
                                 "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
                                 "--hostname", f"bench{n}@%h"], cwd=ROOT, env=env) for n in range(WORKERS)]
    try:
        batch = setup(provider_url)
        wait_for(batch, "proposed")
        started = time.perf_counter()
        batch_confirm(batch=batch)
        wait_for(batch, "succeeded", "failed")
        elapsed = time.perf_counter() - started
        answered = batch.items.filter(status="answered").count()
        report = {"rows": ROWS, "answered": answered, "workers": WORKERS, "provider_delay_ms": PROVIDER_DELAY_S * 1000,
                  "seconds": round(elapsed, 2), "rows_per_s": round(answered / elapsed, 1),
                  "overhead_ms_per_row": round(1000 * (WORKERS * elapsed / answered - PROVIDER_DELAY_S), 1)}
        out = ROOT / "reports" / "bench-batch.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
        print(json.dumps(report, indent=2))
    finally:
        for process in (*workers, provider):
            process.terminate()
            process.wait(timeout=30)
        teardown()


if __name__ == "__main__":
    main()
