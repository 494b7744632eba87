"""Load test: locust's closed-loop users against POST /api/v1/route and POST
/v1/chat/completions (the local OpenAI-protocol server answering after 50 ms), OptiRoute served
by gunicorn as in production; throughput and p50/p95/p99 at concurrency 1, 8 and 32. Loopback only,
each point bounded in time."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_gateway import PORT, ROOT, serving

CONCURRENCY = (1, 8, 32)
SECONDS = int(os.environ.get("LOAD_SECONDS", "20"))


def point(target: str, users: int, key: str) -> dict[str, float]:
    """One run of `users` clients for SECONDS; locust's aggregated figures for it."""
    with tempfile.TemporaryDirectory() as folder:
        prefix = str(Path(folder) / "load")
        subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "scripts" / "locustfile.py"), "--headless",
             "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{SECONDS}s", "--only-summary",
             "--host", f"http://127.0.0.1:{PORT}", "--csv", prefix, "--loglevel", "WARNING", "--stop-timeout", "10"],
            cwd=ROOT, check=False, env={**os.environ, "LOAD_API_KEY": key, "LOAD_TARGET": target},
            stdout=subprocess.DEVNULL)
        with open(f"{prefix}_stats.csv") as stats:
            row = next(r for r in csv.DictReader(stats) if r["Name"] == "Aggregated")
    return {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
            "throughput_per_s": round(float(row["Requests/s"]), 1), "p50_ms": float(row["50%"]),
            "p95_ms": float(row["95%"]), "p99_ms": float(row["99%"])}


def main() -> None:
    report: dict[str, dict[str, dict[str, float]]] = {}
    with serving() as (_provider_url, key):
        for target in ("route", "chat"):
            for users in CONCURRENCY:
                report.setdefault(target, {})[f"c{users}"] = figures = point(target, users, key)
                print(target, users, figures, flush=True)
    out = ROOT / "reports" / "bench-load.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"seconds_per_point": SECONDS, "results": report}, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
