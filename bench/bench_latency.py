"""Repeatability and cost of the trainer's deployment measurement (``reid_core.deployment``).

Each repeat is a new process that measures one backbone at the default input size exactly as a
training does after its last epoch (FLOP count, ONNX export, warm-up, 50 timed batch-1 runs in
onnxruntime on the CPU), so its time is what a trial pays. Reported per backbone: latency_ms of
every repeat, their coefficient of variation (stdev / mean), and the seconds of the whole
measurement. The load average before and after each backbone says how idle the machine was.

    .venv/bin/python bench/bench_latency.py [--repeats 5] [--backbones resnet_lite resnet_50] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import torch

from reid_core.config import ExperimentConfig
from reid_core.deployment import deployment_cost
from reid_core.modeling.baseline import EmbeddingNetwork, ReidBaseline

ROOT = Path(__file__).resolve().parents[1]


def measure_once(backbone: str) -> dict:
    """One measurement in this process, as the trainer does it (the classifier's size does not matter)."""
    spec = ExperimentConfig()
    spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model, backbone=backbone))
    network = EmbeddingNetwork(ReidBaseline(spec, 751)).eval()
    shape = (spec.model.input_channels, spec.model.input_height, spec.model.input_width)
    cost = deployment_cost(network, shape, torch.device("cpu"))
    return {"kpi": cost.kpis(), "deployment": cost.measurement()}


def _child(backbone: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--one", backbone], check=True, capture_output=True,
                          text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backbones", nargs="+", default=["resnet_lite", "resnet_50"])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child: one measurement, printed as JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_once(args.one)))
        return
    rows = []
    print(f"{os.cpu_count()} CPUs; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print("| backbone | input | threads | latency_ms per repeat | mean | CV | measurement s (mean, max) "
          "| params_m | gflops | load before / after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for backbone in args.backbones:
        load_before = os.getloadavg()[0]
        runs = [_child(backbone) for _ in range(args.repeats)]
        load_after = os.getloadavg()[0]
        latencies = [r["kpi"]["latency_ms"] for r in runs]
        seconds = [r["deployment"]["seconds"] for r in runs]
        first = runs[0]
        mean = statistics.mean(latencies)
        cv = statistics.stdev(latencies) / mean if len(latencies) > 1 else 0.0
        row = {"backbone": backbone, "input": first["deployment"]["input"], "threads": first["deployment"]["threads"],
               "latency_ms": latencies, "mean_ms": mean, "cv": cv, "seconds": seconds,
               "params_m": first["kpi"]["params_m"], "gflops": first["kpi"]["gflops"],
               "load": [load_before, load_after]}
        rows.append(row)
        print(f"| {backbone} | {'x'.join(map(str, row['input']))} | {row['threads']} | "
              f"{', '.join(f'{v:.2f}' for v in latencies)} | {mean:.2f} | {cv:.1%} | "
              f"{statistics.mean(seconds):.1f}, {max(seconds):.1f} | {row['params_m']:.2f} | {row['gflops']:.2f} | "
              f"{load_before:.1f} / {load_after:.1f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
