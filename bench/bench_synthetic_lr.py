"""Does the synthetic dataset make hyperparameters matter? Rank-1 after a short training at
several learning rates, everything else as in the preset's generated spec_train.yaml.

    .venv/bin/python bench/bench_synthetic_lr.py [--preset demo] [--epochs 8] [--lrs 1e-4 3.5e-4 3e-3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reid_core.status import read_status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-4, 3.5e-4, 3e-3])
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-lr-"))
    command = [sys.executable, "-m", "reid_core"]
    subprocess.run(command + ["make_dataset", "--output", str(root / "data"), "--preset", args.preset,
                              "--seed", str(args.seed)], check=True, capture_output=True)
    print(f"preset {args.preset} (seed {args.seed}), {args.epochs} epochs, spec {root / 'data' / 'spec_train.yaml'}")
    print(f"{'train.optim.base_lr':>20} {'rank-1':>8} {'mAP':>8} {'seconds':>8}")
    for lr in args.lrs:
        out = root / f"lr{lr:g}"
        start = time.perf_counter()
        subprocess.run(command + ["train", "-e", str(root / "data" / "spec_train.yaml"), f"results_dir={out}",
                                  f"train.num_epochs={args.epochs}", f"train.optim.base_lr={lr}"],
                       check=True, capture_output=True)
        seconds = time.perf_counter() - start
        kpi = [line for line in read_status(out / "train" / "status.json") if "kpi" in line][-1]["kpi"]
        print(f"{lr:>20g} {kpi['cmc_rank_1'] * 100:>7.1f}% {kpi['mAP'] * 100:>7.1f}% {seconds:>8.1f}")


if __name__ == "__main__":
    main()
