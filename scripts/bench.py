"""`make bench`: the figures the issues ask for, measured on ../shared/data, written to reports/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("OPTIROUTE_SHARED_DATA", ROOT.parent / "shared" / "data"))
REPORTS = ROOT / "reports"


def manage(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)
    return time.perf_counter() - started


def main() -> None:
    REPORTS.mkdir(exist_ok=True)
    manage("migrate", "-v0")
    manage("import_models", "-v0")
    summary: dict[str, object] = {}
    for name in ("routerbench", "llmrouter"):
        # Remove the dataset first so the import is timed end to end, embeddings included.
        manage("shell", "-c", f"from registry.models import Dataset; Dataset.objects.filter(name='{name}').delete()")
        summary[f"import_{name}_s"] = round(manage("import_evaluations", str(DATA / name), "--dataset", name,
                                                   "--format", name), 2)
    for name in ("routerbench", "llmrouter"):
        manage("evaluate_router", "--dataset", name, "--out", str(REPORTS / f"evaluate-{name}.json"),
               "--plot", str(REPORTS / f"evaluate-{name}.png"))
        report = json.loads((REPORTS / f"evaluate-{name}.json").read_text())
        summary[f"evaluate_{name}"] = {"best_single": report["baselines"]["best_single"],
                                       "oracle": report["baselines"]["oracle"],
                                       "default_strategy": report["default_strategy"],
                                       "aiq": {k: v["aiq"] for k, v in report["strategies"].items()},
                                       "targets": report["targets"]}
    for concurrency in (1, 8):
        out = REPORTS / f"bench-routing-c{concurrency}.json"
        manage("bench_routing", "--dataset", "routerbench", "--n", "1000", "--concurrency", str(concurrency),
               "--out", str(out))
        summary[f"bench_routing_c{concurrency}"] = json.loads(out.read_text())
    for name in ("routerbench", "llmrouter"):
        out = REPORTS / f"bench-batch-selection-{name}.json"
        manage("bench_batch_selection", "--dataset", name, "--n", "10000", "--out", str(out))
        summary[f"bench_batch_selection_{name}"] = json.loads(out.read_text())
        for mode in ("graded", "evidence"):
            out = REPORTS / f"batch-regret-{name}-{mode}.json"
            manage("batch_regret", "--dataset", name, "--mode", mode, "--out", str(out))
            report = json.loads(out.read_text())
            summary[f"batch_regret_{name}_{mode}"] = {"mean_regret": report["mean_regret"],
                                                      "coverage": report["coverage"]}
    subprocess.run([sys.executable, "scripts/bench_gateway.py"], cwd=ROOT, check=True)
    summary["bench_gateway"] = json.loads((REPORTS / "bench-gateway.json").read_text())
    subprocess.run([sys.executable, "scripts/bench_load.py"], cwd=ROOT, check=True)
    summary["bench_load"] = json.loads((REPORTS / "bench-load.json").read_text())
    subprocess.run([sys.executable, "scripts/bench_batch.py"], cwd=ROOT, check=True)
    summary["bench_batch"] = json.loads((REPORTS / "bench-batch.json").read_text())
    (REPORTS / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
