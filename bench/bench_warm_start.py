"""Warm start on the demo data: does a second study seeded by the first reach its best sooner?

For each seed s, on the `demo` synthetic dataset (CPU, trials 2 at a time, the demo's algorithm):

- study A: a cold study (seed s), ``--trials`` trials;
- study B: the same budget, ``--warm-start A`` (seed s + 100);
- study C: the same budget, cold, seed s + 100 (the control: what B would have done without A).

Each study's curve is the best validation ``cmc_rank_1`` so far, by trial number (the order the
trials were started); the figure is how many trials each needed to reach A's best (``-`` when it
did not within the budget). Every study goes through ``automl launch`` as a user runs it.

    .venv/bin/python bench/bench_warm_start.py [--seeds 0 1 2] [--trials 8] [--data DIR] [--out DIR]
        [--json figures.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studies import StudyRecord  # noqa: E402

BIN = Path(sys.executable).parent


def _curve(results: Path) -> list[float]:
    best, curve = None, []
    for trial in sorted(StudyRecord.of_results_dir(results).trials(), key=lambda t: t.number):
        if trial.state == "COMPLETE" and trial.value is not None:
            best = trial.value if best is None else max(best, trial.value)
        curve.append(best if best is not None else 0.0)
    return curve


def _reached(curve: list[float], target: float) -> int | None:
    return next((i + 1 for i, value in enumerate(curve) if value >= target - 1e-9), None)


def _study(data: Path, results: Path, seed: int, trials: int, algorithm: str, warm: Path | None) -> float:
    start = time.perf_counter()
    command = [str(BIN / "automl"), "launch", "--skill-dir", str(ROOT), "--results-dir", str(results),
               "--spec", str(data / "spec_train.yaml"), "--max-trials", str(trials), "--parallel", "2",
               "--gpus", "none", "--algorithm", algorithm, "--seed", str(seed), "--no-handoff"]
    if warm is not None:
        command += ["--warm-start", str(warm)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--algorithm", default="bayesian")
    parser.add_argument("--data", type=Path, help="the demo dataset (made when missing)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_warm_"))
    data = args.data or out / "data"
    if not (data / "spec_train.yaml").exists():
        subprocess.run([str(BIN / "re_identification"), "make_dataset", "--output", str(data), "--preset", "demo",
                        "--seed", "0"], check=True, capture_output=True)
    rows = []
    for seed in args.seeds:
        a, b, c = (out / f"s{seed}_{name}" for name in ("A", "B_warm", "C_cold"))
        seconds = {"A": _study(data, a, seed, args.trials, args.algorithm, None),
                   "B": _study(data, b, seed + 100, args.trials, args.algorithm, a),
                   "C": _study(data, c, seed + 100, args.trials, args.algorithm, None)}
        curves = {"A": _curve(a), "B": _curve(b), "C": _curve(c)}
        target = max(curves["A"])
        row = {"seed": seed, "target": target, "curves": curves, "seconds": seconds,
               "reached": {name: _reached(curve, target) for name, curve in curves.items()}}
        rows.append(row)
        print(f"seed {seed}: A's best {target:.4f}; trials to reach it: "
              + ", ".join(f"{n} {row['reached'][n] or '-'}" for n in "ABC"), flush=True)
        for name in "ABC":
            print(f"  {name}: " + " ".join(f"{v:.3f}" for v in curves[name]), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"trials": args.trials, "algorithm": args.algorithm, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
