"""Which device an action runs on, and where its outputs go."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from reid_core.config import ExperimentConfig
from reid_core.errors import SpecError
from reid_core.status import STARTED, StatusFile


@dataclass(frozen=True)
class Placement:
    accelerator: str  # "gpu" or "cpu"
    devices: list[int] | int
    strategy: str
    precision: str


def _check_ids(key: str, ids: list[int]) -> None:
    visible = torch.cuda.device_count()
    missing = [i for i in ids if i >= visible]
    if missing:
        raise SpecError(f"{key}: GPU {missing[0]} does not exist ({visible} visible: ids 0..{visible - 1})")


def training_placement(spec: ExperimentConfig) -> Placement:
    """GPUs from train.gpu_ids (or the first num_gpus), DDP beyond one; the CPU when none is present."""
    train = spec.train
    if not torch.cuda.is_available():
        return Placement("cpu", 1, "auto", "32-true")
    ids = list(train.gpu_ids) if len(train.gpu_ids) == train.num_gpus else list(range(train.num_gpus))
    _check_ids("train.gpu_ids", ids)
    precision = "32-true"
    if train.amp:
        precision = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    strategy = "ddp" if len(ids) > 1 or train.num_nodes > 1 else "auto"
    return Placement("gpu", ids, strategy, precision)


def inference_device(key: str, gpu_id: int) -> torch.device:
    """One device for evaluate / inference / export: the given GPU when GPUs exist, else the CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    _check_ids(key, [gpu_id])
    return torch.device("cuda", gpu_id)


def action_dir(spec: ExperimentConfig, action: str) -> Path:
    """``<action>.results_dir`` when set, else ``<results_dir>/<action>`` (TAO's layout)."""
    own = getattr(getattr(spec, action), "results_dir", "")
    return Path(own or Path(spec.results_dir) / action).expanduser()


def start_action(spec: ExperimentConfig, action: str) -> tuple[Path, StatusFile]:
    """Create the action's folder and its status.json with a STARTED line."""
    out = action_dir(spec, action)
    out.mkdir(parents=True, exist_ok=True)
    status = StatusFile(out / "status.json")
    status.write(STARTED, f"Starting {action}.")
    return out, status
