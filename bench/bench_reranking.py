"""Post-hoc re-ranking: tuning time, and validation and test KPIs without and with the chosen values.

On the ``demo`` preset (``make_dataset --preset demo --seed 0``, trained with its
``spec_train.yaml`` and ``dataset.val_split=0.2``, AutoML's default), for the best epoch by
validation rank-1 (ties to the later epoch, as a study picks it):

- ``re_identification tune_reranking``: wall time of the command, the action's own seconds
  (loading, features, search), the search's seconds, candidates, the chosen section and the
  validation KPIs without and with it;
- ``re_identification evaluate`` on the test query/gallery without and with that section;
- the same grid scored the obvious way, one full ``re_ranking`` per candidate (what the
  staged search replaces), on the same validation features: time, and that every candidate's
  KPIs agree exactly.

Then the search alone on synthetic features the size of a Market-1501 validation split
(150 identities over 6 cameras, ~2,600 images), the obvious way extrapolated from a sample.

    .venv/bin/python bench/bench_reranking.py [--workdir DIR] [--skip-naive] [--json figures.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reid_core.actions.restore import restore_model  # noqa: E402
from reid_core.checkpoints import parse_checkpoint_name  # noqa: E402
from reid_core.config import ReRankingConfig, load_spec  # noqa: E402
from reid_core.data.datamodule import evaluation_loader
from reid_core.data.training_data import load_training_data  # noqa: E402
from reid_core.evaluation import Embeddings, extract_embeddings, retrieval_metrics  # noqa: E402
from reid_core.reranking_search import RerankingSearch, search_re_ranking  # noqa: E402
from reid_core.status import read_status  # noqa: E402

CLI = str(Path(sys.executable).parent / "re_identification")
VAL_SPLIT = "dataset.val_split=0.2"
GRID = {"k1_values": [5, 10, 15, 20, 25, 30], "k2_values": [1, 2, 3, 4, 6, 8],
        "lambda_values": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]}  # the spec's defaults


def run(*args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([CLI, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:1])} failed: {done.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - start


def best_checkpoint(train_dir: Path) -> tuple[int, Path]:
    scores = {l["epoch"]: l["kpi"]["cmc_rank_1"] for l in read_status(train_dir / "status.json")
              if "cmc_rank_1" in l.get("kpi", {})}
    epoch = max(scores, key=lambda e: (scores[e], e))
    files = {parse_checkpoint_name(p.name)[0]: p for p in train_dir.glob("model_epoch_*.pth")}
    return epoch, files[epoch]


def naive_search(query: Embeddings, gallery: Embeddings, candidates: list[tuple[int, int, float]]) -> list[dict]:
    return [retrieval_metrics(query, gallery, ReRankingConfig(True, k1, k2, lam)).kpis() for k1, k2, lam in candidates]


def grid_of(search: RerankingSearch) -> list[tuple[int, int, float]]:
    return [(c.k1, c.k2, c.lambda_value) for c in search.candidates[1:]]


def demo(work: Path, skip_naive: bool) -> dict:
    data = work / "demo"
    if not (data / "spec_train.yaml").exists():
        run("make_dataset", "--output", str(data), "--preset", "demo", "--seed", "0")
    spec, results = str(data / "spec_train.yaml"), work / "results"
    if not (results / "train" / "status.json").exists() or read_status(results / "train" / "status.json")[-1]["status"] != "SUCCESS":
        train_seconds = run("train", "-e", spec, VAL_SPLIT, f"results_dir={results}")
    else:
        train_seconds = float("nan")
    epoch, checkpoint = best_checkpoint(results / "train")

    tune_wall = run("tune_reranking", "-e", spec, VAL_SPLIT, f"results_dir={results}",
                    f"tune_reranking.checkpoint={checkpoint}")
    tuned = read_status(results / "tune_reranking" / "status.json")[-1]
    record = json.loads((results / "tune_reranking" / "search.json").read_text())
    section = tuned["re_ranking"]
    test = {}
    for name, overrides in (("without", ["re_ranking.re_ranking=false"]),
                            ("with", [f"re_ranking.{k}={str(v).lower()}" for k, v in section.items()])):
        out = results / f"evaluate_{name}"
        run("evaluate", "-e", spec, VAL_SPLIT, f"results_dir={out}", f"evaluate.checkpoint={checkpoint}", *overrides)
        test[name] = read_status(out / "evaluate" / "status.json")[-1]["kpi"]
    figures = {
        "train_seconds": round(train_seconds, 1), "epoch": epoch, "checkpoint": str(checkpoint),
        "tune_wall_seconds": round(tune_wall, 2), "tune_action_seconds": tuned["seconds"],
        "search_seconds": record["search_seconds"], "candidates": tuned["candidates"],
        "num_query": record["num_query"], "num_gallery": record["num_gallery"], "re_ranking": section,
        "validation": {"without": tuned["kpi_without_re_ranking"], "with": tuned["kpi"]}, "test": test,
    }
    if not skip_naive:
        figures["naive"] = naive_on_validation(spec, checkpoint)
    return figures


def naive_on_validation(spec_path: str, checkpoint: Path) -> dict:
    """The staged search and the obvious loop on the validation features the action extracted."""
    spec = load_spec(spec_path, [VAL_SPLIT], "train")
    restored = restore_model(spec, str(checkpoint), "checkpoint", torch.device("cpu"))
    data = load_training_data(spec)
    loader = lambda records: evaluation_loader(restored.spec, records, spec.dataset.val_batch_size)  # noqa: E731
    query = extract_embeddings(restored.model, loader(data.query), torch.device("cpu"))
    gallery = extract_embeddings(restored.model, loader(data.gallery), torch.device("cpu"))
    search = search_re_ranking(query, gallery, GRID["k1_values"], GRID["k2_values"], GRID["lambda_values"])
    start = time.perf_counter()
    naive = naive_search(query, gallery, grid_of(search))
    naive_seconds = time.perf_counter() - start
    agree = all(c.kpis == k for c, k in zip(search.candidates[1:], naive))
    return {"search_seconds": round(search.seconds, 3), "naive_seconds": round(naive_seconds, 2),
            "speedup": round(naive_seconds / search.seconds, 1), "every_candidate_agrees": agree}


def market_sized(sample: int) -> dict:
    """Identity centre + camera offset + noise: 150 identities, 12-23 images each over 6 cameras."""
    rng = np.random.default_rng(0)
    dim, ids = 256, 150
    centres = rng.standard_normal((ids + 1, dim)).astype(np.float32)
    offsets = 0.6 * rng.standard_normal((6, dim)).astype(np.float32)
    q_rows, g_rows = [], []
    for pid in range(1, ids + 1):
        cams = rng.integers(0, 6, int(rng.integers(12, 24)))
        first = {c: i for i, c in reversed(list(enumerate(cams)))}  # one query per camera, as carving does
        for i, cam in enumerate(cams):
            (q_rows if first[cam] == i and len(first) > 1 else g_rows).append((pid, cam))

    def embeddings(rows: list[tuple[int, int]]) -> Embeddings:
        pids, cams = (np.array(v) for v in zip(*rows))
        feats = centres[pids] + offsets[cams] + 2.2 * rng.standard_normal((len(rows), dim)).astype(np.float32)
        return Embeddings(torch.from_numpy(feats), pids, cams)

    query, gallery = embeddings(q_rows), embeddings(g_rows)
    search = search_re_ranking(query, gallery, GRID["k1_values"], GRID["k2_values"], GRID["lambda_values"])
    picks = rng.choice(len(search.candidates) - 1, size=sample, replace=False)
    grid = grid_of(search)
    start = time.perf_counter()
    naive = naive_search(query, gallery, [grid[i] for i in picks])
    per_candidate = (time.perf_counter() - start) / sample
    agree = all(search.candidates[1 + i].kpis == k for i, k in zip(picks, naive))
    return {"num_query": len(q_rows), "num_gallery": len(g_rows), "candidates": len(search.candidates),
            "search_seconds": round(search.seconds, 2),
            "naive_seconds_extrapolated": round(per_candidate * (len(search.candidates) - 1), 1),
            "naive_sample": sample, "sample_agrees": agree, "mAP_without": round(search.without.kpis["mAP"], 4),
            "mAP_chosen": round(search.chosen.kpis["mAP"], 4), "chosen": search.chosen.section()}


def _row(name: str, kpis: dict) -> str:
    return f"  {name:<26} rank-1 {kpis['cmc_rank_1'] * 100:6.2f}%   mAP {kpis['mAP'] * 100:6.2f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="keep the dataset and runs here (reused when present)")
    parser.add_argument("--skip-naive", action="store_true", help="skip the one-re_ranking-per-candidate loops")
    parser.add_argument("--naive-sample", type=int, default=12, help="candidates timed the obvious way at Market size")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.workdir or scratch)
        figures = {"demo": demo(work, args.skip_naive), "torch_threads": torch.get_num_threads()}
    if not args.skip_naive:
        figures["market_sized"] = market_sized(args.naive_sample)
    d = figures["demo"]
    print(f"demo preset, epoch {d['epoch']} (best validation rank-1), {d['num_query']} query / {d['num_gallery']} "
          f"gallery validation images; training took {d['train_seconds']} s")
    print(f"tune_reranking: {d['tune_wall_seconds']} s wall ({d['tune_action_seconds']} s in the action, "
          f"search {d['search_seconds']} s over {d['candidates']} candidates); chosen {d['re_ranking']}")
    for split in ("validation", "test"):
        print(f"{split}:")
        print(_row("without re-ranking", d[split]["without"]))
        print(_row("with the chosen section", d[split]["with"]))
    if "naive" in d:
        print(f"same grid, one re_ranking per candidate: {d['naive']}")
    if "market_sized" in figures:
        print(f"Market-sized validation split: {figures['market_sized']}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
