"""Trial start-up: from the moment a study opens a trial until the trainer's first training step,
with the Ray engine (local Ray) and with the Optuna engine, side by side, on the real trainer.

For each trial: the record's start (Optuna's ``datetime_start``: when the engine opened the trial,
with the Ray engine when Ray added it) until the trainer's STARTED line in its status.json (the
first step comes next). The first trial of each slot pays the one-time costs (Ray: the actor's
process and imports, the node's trial server; Optuna engine: the fork server) and is reported apart.

    .venv/bin/python bench/bench_ray_startup.py [--trials 8] [--parallel 2] [--preset tiny]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _startups(results: Path) -> list[tuple[int, float]]:
    from studies.record import StudyRecord

    out = []
    for trial in StudyRecord.of_results_dir(results).trials():
        status = results / trial.folder / "train" / "status.json"
        lines = [json.loads(line) for line in status.read_text().splitlines() if line.strip()]
        started = [line["timestamp"] for line in lines if line.get("status") == "STARTED"]
        if started and trial.datetime_start is not None:
            out.append((trial.number, started[0] - trial.datetime_start.timestamp()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--preset", default="tiny")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-ray-startup-"))
    subprocess.run([sys.executable, "-m", "reid_core", "make_dataset", "--output", str(root / "data"), "--preset",
                    args.preset, "--seed", "0"], check=True, capture_output=True, cwd=ROOT)
    print(f"{args.trials} trials, {args.parallel} at a time, {args.epochs} epochs, '{args.preset}' data, CPU")
    print("| engine | first trial of a slot (s) | later trials: median (s) | max (s) |\n|---|---|---|---|")
    for engine in ("ray", "optuna"):
        results = root / engine
        subprocess.run([sys.executable, "-m", "automl", "launch", "--skill-dir", str(ROOT), "--results-dir",
                        str(results), "--spec", str(root / "data" / "spec_train.yaml"), "--engine", engine,
                        "--algorithm", "random", "--max-trials", str(args.trials), "--max-epochs", str(args.epochs),
                        "--parallel", str(args.parallel), "--gpus", "none", "--no-handoff",
                        "--hyperparameters", "train.optim.base_lr"], check=True, capture_output=True, cwd=ROOT)
        times = [seconds for _, seconds in sorted(_startups(results))]
        first, later = times[:args.parallel], times[args.parallel:]
        print(f"| {engine} | {', '.join(f'{t:.2f}' for t in first)} | {statistics.median(later):.2f} | "
              f"{max(later):.2f} |")


if __name__ == "__main__":
    main()
