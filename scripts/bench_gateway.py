"""The time OptiRoute adds around a provider call: a local OpenAI-protocol server (a process of
its own, answering after 50 ms), called directly and through OptiRoute (gunicorn, as `make run`
serves it), at concurrency 1 and 8. Loopback only."""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from threading import Barrier
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "optiroute.settings")

import django  # noqa: E402

django.setup()

from optiroute.runner import gunicorn_command  # noqa: E402
from registry.models import LLM, Provider  # noqa: E402
from routing.access.keys import api_key_create  # noqa: E402
from routing.models import Cohort, Decision  # noqa: E402

PORT = int(os.environ.get("BENCH_PORT", "8765"))
# Timed calls per point: a p95 read off 400 calls rests on its 20 slowest, and moved by a third
# between runs at concurrency 8; 2,000 there take ~15 s.
REQUESTS = {1: 400, 8: 2000}
WARMUP_PER_CLIENT = 20
BODY = {"messages": [{"role": "user", "content": "Summarise the plot of Hamlet in one sentence."}], "max_tokens": 32}


POOL = 12  # models `optiroute/auto` chooses among, as a cohort's pool would offer


def setup(provider_url: str) -> str:
    """A cohort whose pool holds POOL models of different prices and published quality, all
    served by the local provider: routed calls weigh a realistic set of candidates, and the
    pinned calls name the first of them."""
    provider, _ = Provider.objects.update_or_create(name="bench-local", defaults={
        "kind": "openai", "base_url": provider_url, "api_key_env": ""})
    for index in range(POOL):
        price = round(0.1 * 300 ** (index / (POOL - 1)), 4)  # $0.10 to $30 per million tokens
        LLM.objects.update_or_create(name=f"bench-{index:02d}", defaults={
            "provider": provider, "api_model_id": "fake-ok", "input_price_per_mtok": price,
            "output_price_per_mtok": 2 * price, "context_window": 32000, "is_generalist": index % 3 == 0,
            "benchmarks": [{"name": "b", "score": round(0.45 + 0.45 * index / (POOL - 1), 3), "task_type": "",
                            "source": "bench"}]})
    cohort, _ = Cohort.objects.get_or_create(name="bench")
    cohort.allowed_models.set(LLM.objects.filter(provider=provider))
    return api_key_create(cohort_name="bench", label="bench_gateway")[1]


def teardown() -> None:
    """The benchmark's model, provider and cohort leave the registry with it (their decisions and
    usage go too: they measured the benchmark, not anyone's traffic)."""
    Decision.objects.filter(cohort__name="bench").delete()  # their usage rows cascade
    Cohort.objects.filter(name="bench").delete()
    LLM.objects.filter(provider__name="bench-local").delete()
    Provider.objects.filter(name="bench-local").delete()


def _client(url: str, headers: dict[str, str], body: bytes, warmup: int, count: int,
            ready: Barrier) -> list[float]:
    """One client: a kept-alive connection on the standard library's http.client (httpx would
    cost the shared cores three times the CPU); `warmup` untimed calls, then `count` timed ones."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    headers = {"Content-Type": "application/json", **headers}
    timings = []
    for index in range(warmup + count):
        if index == warmup:
            ready.wait()  # every client is warm before any is timed
        started = time.perf_counter()
        connection.request("POST", parts.path, body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"{parts.path} answered {response.status}: {payload[:300]!r}")
        timings.append((time.perf_counter() - started) * 1000)
    return timings[warmup:]


def run(url: str, body: dict[str, object], headers: dict[str, str], concurrency: int) -> list[float]:
    """REQUESTS[concurrency] calls from `concurrency` client processes, one connection each: a client is a
    process of its own, as real clients are, so no client waits on another's interpreter lock.
    Warm-up runs at the measured concurrency: every server thread that will serve the run opens
    its database connection and prepares its statements before timing starts."""
    context = multiprocessing.get_context("fork")
    ready, results = context.Barrier(concurrency), context.Queue()
    raw = json.dumps(body).encode()

    def client(count: int) -> None:
        results.put(_client(url, headers, raw, WARMUP_PER_CLIENT, count, ready))

    total = REQUESTS[concurrency]
    shares = [total // concurrency + (i < total % concurrency) for i in range(concurrency)]
    clients = [context.Process(target=client, args=(share,)) for share in shares]
    for process in clients:
        process.start()
    timings = [ms for _ in clients for ms in results.get(timeout=600)]
    for process in clients:
        process.join()
        if process.exitcode:
            raise RuntimeError(f"a benchmark client failed (exit code {process.exitcode})")
    return timings


@contextmanager
def serving(delay_s: float = 0.05) -> Iterator[tuple[str, str]]:
    """The local provider (answering after `delay_s`) and OptiRoute under gunicorn, as `make run`
    serves it, with the benchmark's cohort: yields (provider URL, API key); removes it all after."""
    provider = subprocess.Popen([sys.executable, "-m", "tests.openai_server", "--delay", str(delay_s)], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True)
    assert provider.stdout is not None
    provider_url = provider.stdout.readline().strip()
    key = setup(provider_url)
    server = subprocess.Popen(gunicorn_command("127.0.0.1", PORT, "--log-level", "warning"), cwd=ROOT,
                              env={**os.environ, "DEBUG": "false", "OPTIROUTE_RATE_LIMIT_DEFAULT": ""})
    try:
        for _ in range(100):
            try:
                probe = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
                probe.request("GET", "/api/schema/")
                probe.getresponse().read()
                probe.close()
                break
            except OSError:
                time.sleep(0.2)
        yield provider_url, key
    finally:
        for process in (server, provider):
            process.terminate()
            process.wait(timeout=20)
        teardown()


def main() -> None:
    with serving() as (provider_url, key):
        report = {}
        auth = {"Authorization": f"Bearer {key}"}
        for concurrency in (1, 8):
            direct = run(f"{provider_url}/chat/completions", {**BODY, "model": "fake-ok"}, {}, concurrency)
            for label, model in (("pinned", "bench-00"), ("routed", "optiroute/auto")):
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


if __name__ == "__main__":
    main()
