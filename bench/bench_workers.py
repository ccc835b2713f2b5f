"""Optuna workers as separate processes on one study against one process running as many trials.

Same machine, same budget, side by side in one run (A B A B ...): `automl launch --parallel 2` alone
(A) against `automl launch --parallel 1` plus `automl worker --parallel 1` joining the same study
(B), started together (the worker waits for the study: ``--wait``). Wall time from the first start
until every process exited. The trials are the tests' fake
trainer (a fixed time per epoch), so the figures are automl's coordination costs, not training
noise. The record is a SQLite file in the launcher's results dir, or a throwaway PostgreSQL server
(`--postgres`, started and stopped by the benchmark).

    .venv/bin/python bench/bench_workers.py [--trials 12] [--epochs 4] [--epoch-s 0.5] [--repeats 3] [--postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the fake trainer's skill and the throwaway PostgreSQL server
from servers import postgres_server  # noqa: E402
from test_automl import make_fake_skill  # noqa: E402

AUTOML = [sys.executable, "-m", "automl"]


def _run(kind: str, skill: Path, folder: Path, storage: str, args: argparse.Namespace, study: str) -> float:
    common = ["--skill-dir", str(skill), "--study", study, "--max-trials", str(args.trials), "--max-epochs",
              str(args.epochs), "--hyperparameters", "train.optim.base_lr", "--algorithm", "random", "--gpus", "none",
              "--no-handoff"]
    env = {**os.environ, "FAKE_EPOCH_S": str(args.epoch_s), "AUTOML_STORAGE": storage}
    started = time.perf_counter()
    if kind == "A":
        subprocess.run([*AUTOML, "launch", "--results-dir", str(folder / "A"), "--parallel", "2", *common], env=env,
                       check=True, capture_output=True, cwd=ROOT)
    else:
        launch = subprocess.Popen([*AUTOML, "launch", "--results-dir", str(folder / "B1"), "--parallel", "1",
                                   *common], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        worker = subprocess.run([*AUTOML, "worker", "--study", study, "--results-dir", str(folder / "B2"), "--gpus",
                                 "none", "--parallel", "1", "--wait", "60"], env=env, capture_output=True, cwd=ROOT)
        assert launch.wait() == 0 and worker.returncode == 0, (launch.stderr.read(), worker.stderr)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--epoch-s", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="the record in a throwaway PostgreSQL server")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    skill = make_fake_skill(root / "skill")
    times: dict[str, list[float]] = {"A": [], "B": []}
    with (postgres_server() if args.postgres else contextlib.nullcontext()) as server:
        for repeat in range(args.repeats):
            for kind in ("A", "B"):
                folder = root / f"{kind}{repeat}"
                storage = server.url if server else f"sqlite:///{folder / ('A' if kind == 'A' else 'B1') / 'study.db'}"
                (folder / ("A" if kind == "A" else "B1")).mkdir(parents=True)
                times[kind].append(_run(kind, skill, folder, storage, args, f"bench-{kind}-{repeat}"))
    ideal = args.trials * args.epochs * args.epoch_s / 2
    print(f"{args.trials} trials x {args.epochs} epochs x {args.epoch_s} s, 2 at a time "
          f"(ideal {ideal:.1f} s), record: {'PostgreSQL' if args.postgres else 'SQLite'}, {args.repeats} pairs")
    print("| run | median (s) | min (s) | max (s) |\n|---|---|---|---|")
    for kind, label in (("A", "1 worker, --parallel 2"), ("B", "2 workers (processes), --parallel 1 each")):
        print(f"| {label} | {statistics.median(times[kind]):.1f} | {min(times[kind]):.1f} | {max(times[kind]):.1f} |")
    ratios = [b / a for a, b in zip(times["A"], times["B"])]
    print(f"ratio 2 workers / 1 worker, pair by pair: median {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f})")


if __name__ == "__main__":
    main()
