"""The time OptiRoute adds around a provider call: a local OpenAI-protocol server (a process of
its own, answering after 50 ms), called directly and through OptiRoute (gunicorn, as `make run`
serves it), at concurrency 1 and 8. Loopback only."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "optiroute.settings")

import django  # noqa: E402

django.setup()

from optiroute.runner import gunicorn_command  # noqa: E402
from registry.models import LLM, Provider  # noqa: E402
from routing.models import Cohort, Decision  # noqa: E402
from routing.services import api_key_create  # noqa: E402

PORT = int(os.environ.get("BENCH_PORT", "8765"))
REQUESTS = 400
WARMUP_PER_CLIENT = 20
BODY = {"messages": [{"role": "user", "content": "Summarise the plot of Hamlet in one sentence."}], "max_tokens": 32}


def setup(provider_url: str) -> str:
    provider, _ = Provider.objects.update_or_create(name="bench-local", defaults={
        "kind": "openai", "base_url": provider_url, "api_key_env": ""})
    LLM.objects.update_or_create(name="bench-echo", defaults={
        "provider": provider, "api_model_id": "fake-ok", "input_price_per_mtok": 0.1, "output_price_per_mtok": 0.1,
        "context_window": 32000, "benchmarks": [{"name": "b", "score": 0.5, "task_type": "", "source": "bench"}]})
    cohort, _ = Cohort.objects.get_or_create(name="bench")
    cohort.allowed_models.set(LLM.objects.filter(name="bench-echo"))
    return api_key_create(cohort_name="bench", label="bench_gateway")[1]


def teardown() -> None:
    """The benchmark's model, provider and cohort leave the registry with it (their decisions and
    usage go too: they measured the benchmark, not anyone's traffic)."""
    Decision.objects.filter(cohort__name="bench").delete()  # their usage rows cascade
    Cohort.objects.filter(name="bench").delete()
    LLM.objects.filter(name="bench-echo").delete()
    Provider.objects.filter(name="bench-local").delete()


class Client:
    """One kept-alive connection per client thread, on the standard library's http.client: the
    client shares the two cores with what it measures, and httpx costs it three times the CPU."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
        self.headers = {"Content-Type": "application/json", **headers}
        self.local = threading.local()

    def timed(self, body: bytes) -> float:
        if not hasattr(self.local, "connection"):
            self.local.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        started = time.perf_counter()
        self.local.connection.request("POST", self.path, body=body, headers=self.headers)
        response = self.local.connection.getresponse()
        payload = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"{self.path} answered {response.status}: {payload[:300]!r}")
        return elapsed


def run(url: str, body: dict[str, object], headers: dict[str, str], concurrency: int) -> list[float]:
    client, raw = Client(url, headers), json.dumps(body).encode()
    with ThreadPoolExecutor(concurrency) as pool:
        # Warm up at the measured concurrency: every server thread that will serve the run
        # opens its database connection and prepares its statements before timing starts.
        list(pool.map(lambda _: client.timed(raw), range(WARMUP_PER_CLIENT * concurrency)))
        return list(pool.map(lambda _: client.timed(raw), range(REQUESTS)))


def main() -> None:
    provider = subprocess.Popen([sys.executable, "-m", "tests.openai_server", "--delay", "0.05"], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True)
    assert provider.stdout is not None
    provider_url = provider.stdout.readline().strip()
    key = setup(provider_url)
    server = subprocess.Popen(gunicorn_command("127.0.0.1", PORT, "--log-level", "warning"), cwd=ROOT,
                              env={**os.environ, "DEBUG": "false"})
    try:
        for _ in range(100):
            try:
                probe = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
                probe.request("GET", "/api/schema/")
                probe.getresponse().read()
                break
            except OSError:
                time.sleep(0.2)
        report = {}
        auth = {"Authorization": f"Bearer {key}"}
        for concurrency in (1, 8):
            direct = run(f"{provider_url}/chat/completions", {**BODY, "model": "fake-ok"}, {}, concurrency)
            for label, model in (("pinned", "bench-echo"), ("routed", "optiroute/auto")):
                via = run(f"http://127.0.0.1:{PORT}/v1/chat/completions", {**BODY, "model": model}, auth, concurrency)
                report[f"c{concurrency}_{label}"] = {
                    "direct_p50_ms": round(float(np.percentile(direct, 50)), 2),
                    "via_p50_ms": round(float(np.percentile(via, 50)), 2),
                    "added_p50_ms": round(float(np.percentile(via, 50) - np.percentile(direct, 50)), 2),
                    "added_p95_ms": round(float(np.percentile(via, 95) - np.percentile(direct, 95)), 2)}
        out = ROOT / "reports" / "bench-gateway.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
        print(json.dumps(report, indent=2))
    finally:
        for process in (server, provider):
            process.terminate()
            process.wait(timeout=20)
        teardown()


if __name__ == "__main__":
    main()
