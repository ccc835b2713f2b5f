"""A trial's folder, ``<results>/trials/<number>/``: the files automl writes and reads there.

- ``spec.yaml``: the trial's whole train spec; ``stdout.log`` / ``stderr.log``: its output;
  ``process.json``: pid and start ticks of its process;
- ``train/``: the trainer's own results (TAO's layout): ``status.json`` (one JSON line per event;
  a validated epoch's line carries ``epoch``, ``kpi`` and, from our trainer, ``cmc``),
  ``model_epoch_XXX_step_XXXXX.pth`` per saved epoch and the ``reid_model_latest.pth`` link. The
  checkpoint names are the trainer's (``reid_core.checkpoints``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reid_core.checkpoints import LATEST_NAME, parse_checkpoint_name
from reid_core.status import read_status

TRIALS = "trials"
TRAIN = "train"


def folder_of(number: int) -> str:
    """A trial's folder relative to the results dir."""
    return f"{TRIALS}/{number}"


@dataclass(frozen=True)
class TrialFolder:
    path: Path

    @property
    def spec(self) -> Path:
        return self.path / "spec.yaml"

    @property
    def stdout(self) -> Path:
        return self.path / "stdout.log"

    @property
    def stderr(self) -> Path:
        return self.path / "stderr.log"

    @property
    def process(self) -> Path:
        return self.path / "process.json"

    @property
    def train(self) -> Path:
        return self.path / TRAIN

    @property
    def status(self) -> Path:
        return self.train / "status.json"

    @property
    def latest(self) -> Path:
        return self.train / LATEST_NAME

    def checkpoints(self) -> dict[int, Path]:
        """The saved checkpoint of each epoch (the later step when an epoch has several)."""
        found: dict[int, tuple[int, Path]] = {}
        for path in self.train.glob("model_epoch_*.pth"):
            parsed = parse_checkpoint_name(path.name)
            if parsed is not None and (parsed[0] not in found or parsed[1] > found[parsed[0]][0]):
                found[parsed[0]] = (parsed[1], path)
        return {epoch: path for epoch, (_, path) in sorted(found.items())}

    def checkpoint_of_epoch(self, epoch: int) -> Path | None:
        return self.checkpoints().get(epoch)

    def latest_checkpoint(self) -> Path | None:
        """Where ``reid_model_latest.pth`` points, when that file exists."""
        target = self.latest.resolve() if self.latest.is_symlink() or self.latest.exists() else None
        return target if target is not None and target.is_file() else None

    def write_process(self, pid: int, start_ticks: int | None, controller_pid: int) -> None:
        self.process.write_text(json.dumps({"pid": pid, "start_ticks": start_ticks, "controller_pid": controller_pid}))


def status_number(value: Any) -> float | None:
    """A number of a status line (TAO writes KPIs as strings, ours as numbers); None unless finite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def kpis_at(lines: list[dict[str, Any]], epoch: int | None) -> dict[str, float]:
    """Every KPI of a trial's model of ``epoch`` (that epoch's validation metrics and train loss) and
    its deployment cost (``latency_ms``, ``params_m``, ``gflops``: the same for every epoch's model)."""
    kpis: dict[str, float] = {}
    for line in lines:
        if isinstance(line.get("kpi"), dict) and ("deployment" in line or (epoch is not None
                                                                           and line.get("epoch") == epoch)):
            kpis.update({k: n for k, v in line["kpi"].items() if (n := status_number(v)) is not None})
    return kpis


def cmc_at(lines: list[dict[str, Any]], epoch: int) -> dict[int, float] | None:
    """The validation CMC curve (rank -> matching rate) of an epoch: the trainer's ``cmc`` list when it
    wrote one, else its ``cmc_rank_<k>`` KPIs (two ranks at least: one rank is no curve)."""
    chosen = [line for line in lines if line.get("epoch") == epoch and isinstance(line.get("kpi"), dict)
              and "deployment" not in line]  # the deployment cost's line carries the last epoch's number
    if not chosen:
        return None
    line = chosen[-1]
    curve = line.get("cmc")
    if isinstance(curve, list) and curve:
        return {rank: float(v) for rank, v in enumerate(curve, start=1) if status_number(v) is not None}
    ranks = {int(k.rsplit("_", 1)[1]): status_number(v) for k, v in line["kpi"].items()
             if k.startswith("cmc_rank_") and k.rsplit("_", 1)[1].isdigit()}
    ranks = {rank: v for rank, v in ranks.items() if v is not None}
    return dict(sorted(ranks.items())) if len(ranks) >= 2 else None


def status_lines(folder: TrialFolder) -> list[dict[str, Any]]:
    return read_status(folder.status)
