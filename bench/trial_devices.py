"""Which device each trial of a finished study trained on, read from the study record and the trial's files.

Per trial: the ``CUDA_VISIBLE_DEVICES`` the launcher recorded, the trainer's own log line
(``training <backbone> on gpu|cpu``), and its last checkpoint: which GPUs its tensors were saved
from (``cuda:0`` when the weights lived on the trial's one GPU; RNG states are always CPU tensors)
and how many CUDA devices the trainer process saw (one RNG state per visible device). With ``--gpu-samples`` (lines ``<pid> <MiB>`` polled from
``nvidia-smi --query-compute-apps``), also whether the trial's process was seen on the GPU.
Exits 1 when a trial failed or any evidence disagrees with what was expected.

    python bench/trial_devices.py --results-dir R --expect-visible 0 --expect-accelerator gpu --expect-trials 4
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

import automl

TRAINER_LINE = re.compile(r"training (\S+) on (gpu|cpu):")


@dataclass
class TrialDevices:
    number: int
    state: str
    visible: str  # CUDA_VISIBLE_DEVICES as recorded by the launcher
    accelerator: str | None  # from the trainer's log line
    gpu_storage: list[str] = field(default_factory=list)  # the GPUs the checkpoint's tensors were saved from
    cuda_devices_seen: int | None = None
    seen_on_gpu: bool | None = None  # None: no nvidia-smi samples, or none named any process
    failure: str | None = None


def checkpoint_evidence(path: Path) -> tuple[list[str], int]:
    """(GPUs the checkpoint's tensors were saved from, CUDA devices the trainer process saw)."""
    locations: set[str] = set()

    def keep_on_cpu(storage, location):
        locations.add(location)
        return storage

    checkpoint = torch.load(path, map_location=keep_on_cpu, weights_only=True)
    return sorted(place for place in locations if place.startswith("cuda")), len(checkpoint.get("reid_rng", {}).get("cuda", []))


def trial_devices(record: dict, gpu_pids: set[int] | None) -> TrialDevices:
    folder = Path(record["results_dir"] or "")
    found = TrialDevices(record["number"], record["state"], record["cuda_visible_devices"], None,
                         failure=record.get("failure"))
    try:
        found.accelerator = next((m.group(2) for m in TRAINER_LINE.finditer((folder / "stderr.log").read_text())), None)
    except OSError:
        pass
    checkpoints = sorted((folder / "train").glob("model_epoch_*.pth"))
    if checkpoints:
        found.gpu_storage, found.cuda_devices_seen = checkpoint_evidence(checkpoints[-1])
    if gpu_pids:
        try:
            found.seen_on_gpu = json.loads((folder / "process.json").read_text())["pid"] in gpu_pids
        except (OSError, KeyError, ValueError):
            pass
    return found


def problems(found: TrialDevices, visible: str, accelerator: str) -> list[str]:
    wanted_storage = ["cuda:0"] if accelerator == "gpu" else []
    wanted_seen = len(visible.split(",")) if visible else 0
    checks = [
        (found.state in ("COMPLETE", "PRUNED"), f"state {found.state}: {found.failure}"),
        (found.visible == visible, f"CUDA_VISIBLE_DEVICES {found.visible!r}, expected {visible!r}"),
        (found.accelerator == accelerator, f"trainer logged {found.accelerator}, expected {accelerator}"),
        (found.cuda_devices_seen is not None, "no checkpoint"),
        (found.gpu_storage == wanted_storage, f"checkpoint tensors from GPUs {found.gpu_storage}, expected {wanted_storage}"),
        (found.cuda_devices_seen == wanted_seen, f"trainer saw {found.cuda_devices_seen} CUDA device(s), expected {wanted_seen}"),
    ]
    return [message for ok, message in checks if not ok]


def read_gpu_pids(path: str | None) -> set[int] | None:
    if not path or not Path(path).is_file():
        return None
    pids = {int(line.split()[0]) for line in Path(path).read_text().splitlines() if line.split() and line.split()[0].isdigit()}
    return pids or None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", required=True)
    parser.add_argument("--expect-visible", default="0", help="CUDA_VISIBLE_DEVICES every trial must have had ('' on the CPU)")
    parser.add_argument("--expect-accelerator", choices=("gpu", "cpu"), default="gpu")
    parser.add_argument("--expect-trials", type=int, default=4)
    parser.add_argument("--gpu-samples", help="file of '<pid> <MiB>' lines from nvidia-smi --query-compute-apps")
    args = parser.parse_args()
    record = automl.status(args.results_dir)
    gpu_pids = read_gpu_pids(args.gpu_samples)
    failed = 0
    trials = record["trials"]
    if len(trials) != args.expect_trials:
        print(f"  study holds {len(trials)} trials, expected {args.expect_trials}")
        failed += 1
    for entry in trials:
        found = trial_devices(entry, gpu_pids)
        wrong = problems(found, args.expect_visible, args.expect_accelerator)
        seen = {None: "", True: ", its pid seen on the GPU", False: ", its pid not among the GPU's processes"}[found.seen_on_gpu]
        print(f"  trial {found.number}: {found.state}, CUDA_VISIBLE_DEVICES={found.visible!r}, trainer on "
              f"{found.accelerator}, checkpoint tensors from {','.join(found.gpu_storage) or 'no GPU'}, "
              f"{found.cuda_devices_seen} CUDA device(s) seen{seen}" + (f"  WRONG: {'; '.join(wrong)}" if wrong else ""))
        failed += bool(wrong)
    best = record["best"]
    print(f"  best {record['metric']} {best['value']:.4f} (trial {best['number']})" if best else "  best: no trial completed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
