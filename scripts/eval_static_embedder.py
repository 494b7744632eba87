"""Dev script: compare the distilled static embedder with full MiniLM for routing.

Measures (a) distill time, (b) single-prompt encode latency at ~150 tokens, and (c) the
quality of a k-nearest-neighbour router on RouterBench (ARC-Challenge, Winogrande, MBPP)
with each embedder, for several ways of cutting long few-shot prompts.

Run from the project root:  HF_HUB_OFFLINE=1 .venv/bin/python scripts/eval_static_embedder.py
"""

from __future__ import annotations

import argparse
import ast
import csv
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from registry.static_embedder import StaticEmbedder, distill, minilm_path

DATA_DIR = Path("/work/shared/data/routerbench")
TASK_FILES = ("arc_challenge", "winograde", "mbpp")
NON_MODEL_COLUMNS = {
    "",
    "Unnamed: 0",
    "sample_id",
    "prompt",
    "eval_name",
    "oracle_model_to_route_to",
}
K = 20
LATENCY_CALLS = 500
LATENCY_TOKENS = 150
# MiniLM's window is 256 positions including [CLS] and [SEP]: 127 + 127 content tokens fit.
HEAD_TAIL = (127, 127)
TAIL_ONLY = (0, 254)

Embed = Callable[[list[str]], npt.NDArray[np.float32]]


@dataclass
class Split:
    prompts: list[str]
    tasks: list[str]
    ids: list[str]
    correct: npt.NDArray[np.float64]  # rows: prompts, columns: models


# --------------------------------------------------------------------------------- data


def load_split(kind: str, models: list[str] | None = None) -> tuple[Split, list[str]]:
    csv.field_size_limit(sys.maxsize)
    prompts: list[str] = []
    tasks: list[str] = []
    ids: list[str] = []
    rows: list[list[float]] = []
    for task in TASK_FILES:
        with open(DATA_DIR / f"{task}_{kind}.csv", newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if models is None:
                models = [c for c in reader.fieldnames or [] if "|" not in c and c not in NON_MODEL_COLUMNS]
            for rec in reader:
                values = [float(rec[m]) if rec[m] != "" else float("nan") for m in models]
                if any(np.isnan(values)):
                    continue  # README: a few ARC rows lack some correctness values
                prompts.append(ast.literal_eval(rec["prompt"])[0])
                tasks.append(rec["eval_name"])
                ids.append(rec["sample_id"])
                rows.append(values)
    assert models is not None
    return Split(prompts, tasks, ids, np.array(rows)), models


def dedupe(train: Split, test: Split) -> tuple[Split, Split]:
    """Drop repeated train ids and test ids also in train (README caveats), to avoid leakage."""
    seen: set[str] = set()
    keep_train = []
    for i, sid in enumerate(train.ids):
        if sid not in seen:
            seen.add(sid)
            keep_train.append(i)
    keep_test = [i for i, sid in enumerate(test.ids) if sid not in seen]
    return _subset(train, keep_train), _subset(test, keep_test)


def _subset(split: Split, idx: list[int]) -> Split:
    return Split(
        [split.prompts[i] for i in idx],
        [split.tasks[i] for i in idx],
        [split.ids[i] for i in idx],
        split.correct[idx],
    )


# ------------------------------------------------------------------------ text cutting


def make_cutter(head: int, tail: int) -> Callable[[list[str]], list[str]]:
    """Keep the text of the first `head` and last `tail` MiniLM tokens (by char offsets)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(minilm_path() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()

    def cut(texts: list[str]) -> list[str]:
        out = []
        for text, enc in zip(texts, tok.encode_batch(texts, add_special_tokens=False)):
            offs = enc.offsets
            if len(offs) <= head + tail:
                out.append(text)
                continue
            head_txt = text[: offs[head - 1][1]] if head else ""
            tail_txt = text[offs[len(offs) - tail][0] :] if tail else ""
            out.append(f"{head_txt}\n{tail_txt}" if head_txt else tail_txt)
        return out

    return cut


# ------------------------------------------------------------------------------ routing


def knn(train_emb: npt.NDArray[np.float32], test_emb: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.int64]:
    sims = test_emb @ train_emb.T
    return np.argpartition(-sims, k, axis=1)[:, :k]


def predict(neigh: npt.NDArray[np.int64], train: Split) -> npt.NDArray[np.float64]:
    """Each model's predicted accuracy: mean correctness over the neighbours."""
    return train.correct[neigh].mean(axis=1)  # (n_test, n_models)


def route(predicted: npt.NDArray[np.float64], train: Split) -> npt.NDArray[np.int64]:
    """Pick the model with the best predicted accuracy; ties go to the model that is best on
    the whole train set."""
    tie_break = 1e-6 * train.correct.mean(axis=0)
    return np.argmax(predicted + tie_break, axis=1)


def mean_auc(predicted: npt.NDArray[np.float64], test: Split, groups: list[npt.NDArray[np.bool_]]) -> float:
    """Mean ROC AUC of predicted vs actual correctness, per model and group.

    Argmax accuracy on this data is dominated by gpt-4 being best almost everywhere, so it
    says little about the embedding; AUC says whether the neighbours tell which prompts a
    model gets right. With within-task groups it ignores what the task label alone gives.
    """
    from sklearn.metrics import roc_auc_score

    aucs = []
    for mask in groups:
        for m in range(test.correct.shape[1]):
            y = test.correct[mask, m]
            if 0 < y.sum() < len(y):
                aucs.append(roc_auc_score(y, predicted[mask, m]))
    return float(np.mean(aucs))


def routed_accuracy(picks: npt.NDArray[np.int64], test: Split, mask: npt.NDArray[np.bool_]) -> float:
    return float(test.correct[np.arange(len(picks)), picks][mask].mean())


def neighbour_agreement(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> float:
    return float(np.mean([len(set(x) & set(y)) / len(x) for x, y in zip(a, b)]))


# ------------------------------------------------------------------------------ latency


def latency_ms(embed: Embed, prompts: list[str], calls: int) -> tuple[float, float]:
    for p in prompts[:20]:
        embed([p])  # warm-up: first calls pay allocation and thread start-up
    times = []
    for i in range(calls):
        text = prompts[i % len(prompts)]
        t0 = time.perf_counter()
        embed([text])
        times.append((time.perf_counter() - t0) * 1e3)
    q = statistics.quantiles(times, n=100)
    return statistics.median(times), q[94]


# --------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, help="keep the distilled embedder in this folder")
    parser.add_argument("--no-quality", action="store_true", help="only distill time and latency (~2 min)")
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    tmp = tempfile.TemporaryDirectory()
    folder = args.out or Path(tmp.name) / "minilm-static-v1"

    t0 = time.perf_counter()
    distill(folder)
    distill_s = time.perf_counter() - t0
    size_mb = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
    t0 = time.perf_counter()
    static_full = StaticEmbedder(folder)
    load_ms = (time.perf_counter() - t0) * 1e3
    print(
        f"distill: {distill_s:.1f} s  (torch threads {torch.get_num_threads()}), "
        f"folder {size_mb:.1f} MB, StaticEmbedder load {load_ms:.0f} ms"
    )

    minilm = SentenceTransformer(str(minilm_path()), device="cpu")

    def minilm_embed(texts: list[str]) -> npt.NDArray[np.float32]:
        return minilm.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)

    def minilm_on_cut(cutter: Callable[[list[str]], list[str]]) -> Embed:
        return lambda texts: minilm_embed(cutter(texts))

    train, models = load_split("train")
    test, _ = load_split("test", models)
    train, test = dedupe(train, test)
    print(f"train {len(train.prompts)}  test {len(test.prompts)}  models {len(models)}")

    # (b) latency on real text of ~150 tokens: the last 150 tokens of ARC/Winogrande test
    # prompts (a target question plus part of the last few-shot example).
    cut150 = make_cutter(0, LATENCY_TOKENS)
    long_prompts = [p for p, t in zip(test.prompts, test.tasks) if t != "mbpp"][:50]
    lat_prompts = cut150(long_prompts)
    s50, s95 = latency_ms(static_full.encode, lat_prompts, LATENCY_CALLS)
    m50, m95 = latency_ms(minilm_embed, lat_prompts, LATENCY_CALLS)
    # Other processes on a 2-core box distort timings; the load average tells whether to trust them.
    print(
        f"\nlatency, 1 prompt of ~{LATENCY_TOKENS} tokens, {LATENCY_CALLS} calls (ms); "
        f"load average now {os.getloadavg()[0]:.1f}"
    )
    print(f"  {'embedder':<20}{'p50':>8}{'p95':>8}")
    print(f"  {'static':<20}{s50:>8.3f}{s95:>8.3f}")
    print(f"  {'MiniLM fp32':<20}{m50:>8.2f}{m95:>8.2f}")

    if args.no_quality:
        tmp.cleanup()
        return

    # (c) kNN router quality per truncation mode.
    # "default": static keeps first 256 + last 256 tokens; MiniLM truncates to its first
    # 254 content tokens, which for ARC/Winogrande is mostly the shared few-shot examples.
    modes: dict[str, tuple[Embed, Embed]] = {}
    modes["default"] = (static_full.encode, minilm_embed)
    for label, (head, tail) in (("head127+tail127", HEAD_TAIL), ("tail254", TAIL_ONLY)):
        cutter = make_cutter(head, tail)
        static_cut = StaticEmbedder(folder, head_tokens=head, tail_tokens=tail)
        modes[label] = (static_cut.encode, minilm_on_cut(cutter))

    tasks = np.array(test.tasks)
    task_names = sorted(set(test.tasks))
    masks = {"all": np.ones(len(tasks), bool)} | {t: tasks == t for t in task_names}
    best_single = int(np.argmax(train.correct.mean(axis=0)))
    print(f"\nkNN router (k={K}), mean test correctness of the picked model")
    header = f"  {'mode':<17}{'embedder':<9}{'embed s':>8}" + "".join(f"{m:>14}" for m in masks)
    print(header + f"{'AUC all':>9}{'AUC task':>9}{'top20 agree':>13}")
    for label, (static_embed, minilm_fn) in modes.items():
        neigh: dict[str, npt.NDArray[np.int64]] = {}
        for emb_name, fn in (("static", static_embed), ("MiniLM", minilm_fn)):
            t0 = time.perf_counter()
            tr, te = fn(train.prompts), fn(test.prompts)
            secs = time.perf_counter() - t0
            neigh[emb_name] = knn(tr, te, K)
            predicted = predict(neigh[emb_name], train)
            picks = route(predicted, train)
            accs = "".join(f"{routed_accuracy(picks, test, m):>14.3f}" for m in masks.values())
            accs += f"{mean_auc(predicted, test, [masks['all']]):>9.3f}"
            accs += f"{mean_auc(predicted, test, [masks[t] for t in task_names]):>9.3f}"
            agree = f"{neighbour_agreement(neigh['static'], neigh['MiniLM']):>13.3f}" if emb_name == "MiniLM" else ""
            print(f"  {label:<17}{emb_name:<9}{secs:>8.1f}{accs}{agree}")

    rows = np.arange(len(test.prompts))
    oracle = test.correct.max(axis=1)
    best = test.correct[rows, best_single]
    print(
        f"  {'baseline: always ' + models[best_single].split('/')[-1]:<34}"
        + "".join(f"{best[m].mean():>14.3f}" for m in masks.values())
    )
    train_tasks = np.array(train.tasks)
    per_task = np.empty(len(tasks))
    for t in task_names:  # best model per task on train: what the task label alone gives
        b = int(np.argmax(train.correct[train_tasks == t].mean(axis=0)))
        per_task[tasks == t] = test.correct[tasks == t, b]
    print(f"  {'baseline: best model per task':<34}" + "".join(f"{per_task[m].mean():>14.3f}" for m in masks.values()))
    print(f"  {'baseline: oracle':<34}" + "".join(f"{oracle[m].mean():>14.3f}" for m in masks.values()))
    print("  test rows: " + ", ".join(f"{k}={int(m.sum())}" for k, m in masks.items()))
    tmp.cleanup()


if __name__ == "__main__":
    main()
