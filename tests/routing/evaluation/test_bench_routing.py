"""bench_routing: the report CONTRACTS.md describes, and nothing left behind in the registry."""

import json

import pytest
from django.core.management import CommandError, call_command

from routing.models import ApiKey, Decision

TEXTS = ["Write a Python function that sorts a list.", "Translate into French: the meeting moved to noon.",
         "Summarise this: quarterly profits rose.", "What is the derivative of x squared?"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the timed calls run on threads
def test_it_times_decisions_and_leaves_none_behind(write_bundle, tmp_path):
    prompts = [{"prompt_id": f"p{i}", "prompt": f"{TEXTS[i % 4]} (case {i})", "split": "train"} for i in range(24)]
    rows = ["prompt_id,model,score,cost_usd,input_tokens,output_tokens"]
    rows += [f"p{i},{model},{(i + j) % 2},0.001,," for i in range(24) for j, model in enumerate(["a", "b"])]
    models = [{"name": name, "provider": "acme", "input_price_per_mtok": 1, "output_price_per_mtok": 1}
              for name in ("a", "b")]
    call_command("import_evaluations", str(write_bundle(prompts=prompts, results="\n".join(rows) + "\n",
                                                        models=models)), "--dataset", "tiny")
    out = tmp_path / "bench.json"

    call_command("bench_routing", "--dataset", "tiny", "--n", "30", "--concurrency", "3", "--out", str(out))

    report = json.loads(out.read_text())
    assert (report["n"], report["concurrency"], report["embedder"]) == (30, 3, "minilm-static-v1")
    assert 0 < report["p50_ms"] <= report["p95_ms"] <= report["p99_ms"] and report["decisions_per_s"] > 0
    assert not Decision.objects.exists() and not ApiKey.objects.exists()


@pytest.mark.django_db
def test_it_names_a_bad_argument(tmp_path):
    with pytest.raises(CommandError, match="unknown dataset 'nope'"):
        call_command("bench_routing", "--dataset", "nope", "--n", "5", "--out", str(tmp_path / "b.json"))
    with pytest.raises(CommandError, match="at least 1"):
        call_command("bench_routing", "--dataset", "nope", "--n", "0", "--out", str(tmp_path / "b.json"))
