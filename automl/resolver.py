"""``resolve_checkpoint``: the best trial's best epoch's ``model_epoch_XXX_step_XXXXX.pth``.

The best trial is the best COMPLETE trial by the study's metric and direction. Its best epoch
is read from its own ``train/status.json`` (the KPI line of each validated epoch; ties go to the
later epoch). ``reid_model_latest.pth`` only when asked for (``latest=True``); TAO's resolver
handed out the earliest checkpoint instead. A study with no completed trial, or a checkpoint
that was deleted, is a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from automl.errors import AutomlError
from automl.options import StudyOptions
from automl.storage import load_study, study_of_results_dir
from reid_core.checkpoints import LATEST_NAME, parse_checkpoint_name
from reid_core.status import read_status

ACTIONS = ("evaluate", "export", "inference", "train")


@dataclass(frozen=True)
class ResolvedCheckpoint:
    trial: int
    value: float
    epoch: int
    checkpoint: Path

    def as_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "value": self.value, "epoch": self.epoch, "checkpoint": str(self.checkpoint)}


def study_options(study: optuna.Study) -> StudyOptions | None:
    raw = study.user_attrs.get("options")
    return StudyOptions.from_json(raw) if raw else None


def metric_and_direction(study: optuna.Study) -> tuple[str, str]:
    options = study_options(study)
    if options is not None:
        return options.metric, options.direction
    return "cmc_rank_1", "maximize" if study.direction == optuna.study.StudyDirection.MAXIMIZE else "minimize"


def open_study(source: str | Path | optuna.Study) -> optuna.Study:
    if isinstance(source, optuna.Study):
        return source
    storage, name = study_of_results_dir(source)
    return load_study(storage, name)


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    completed = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                 if t.value is not None]
    if not completed:
        raise AutomlError(f"study {study.study_name}: no completed trial yet, so no checkpoint to resolve")
    _, direction = metric_and_direction(study)
    pick = max if direction == "maximize" else min
    return pick(completed, key=lambda t: (t.value, -t.number))  # equal values: the earlier trial


def epoch_values(train_dir: Path, metric: str) -> dict[int, float]:
    values = {}
    for line in read_status(train_dir / "status.json"):
        value = (line.get("kpi") or {}).get(metric)
        if value is not None and line.get("epoch") is not None and value == value:  # not NaN
            values[int(line["epoch"])] = float(value)
    return values


def best_epoch(values: dict[int, float], direction: str) -> int:
    best = None
    for epoch in sorted(values):  # ties: the later epoch
        if best is None or (values[epoch] >= values[best] if direction == "maximize" else values[epoch] <= values[best]):
            best = epoch
    assert best is not None
    return best


def checkpoint_of_epoch(train_dir: Path, epoch: int) -> Path | None:
    candidates = [p for p in train_dir.glob(f"model_epoch_{epoch:03d}_step_*.pth")
                  if (parse_checkpoint_name(p.name) or (None,))[0] == epoch]
    return max(candidates, key=lambda p: parse_checkpoint_name(p.name)[1]) if candidates else None


def trial_train_dir(trial: optuna.trial.FrozenTrial) -> Path:
    folder = trial.user_attrs.get("results_dir")
    if not folder:
        raise AutomlError(f"trial {trial.number}: no results_dir recorded")
    return Path(folder) / "train"


def resolve_checkpoint(results_dir_or_study: str | Path | optuna.Study, action: str = "evaluate",
                       latest: bool = False) -> ResolvedCheckpoint:
    if action not in ACTIONS:
        raise AutomlError(f"--action {action}: expected one of {', '.join(ACTIONS)}")
    study = open_study(results_dir_or_study)
    metric, direction = metric_and_direction(study)
    trial = best_trial(study)
    train_dir = trial_train_dir(trial)
    values = epoch_values(train_dir, metric)
    if latest or action == "train":  # resuming a trial wants where it stopped
        link = train_dir / LATEST_NAME
        target = link.resolve() if link.is_symlink() or link.exists() else None
        if target is None or not target.is_file():
            raise AutomlError(f"trial {trial.number}: {link} is missing or points to a deleted file")
        parsed = parse_checkpoint_name(target.name)
        epoch = parsed[0] if parsed else -1
        return ResolvedCheckpoint(trial.number, trial.value, epoch, link)
    if not values:
        raise AutomlError(f"trial {trial.number}: {train_dir / 'status.json'} holds no {metric} per epoch")
    epoch = best_epoch(values, direction)
    checkpoint = checkpoint_of_epoch(train_dir, epoch)
    if checkpoint is None:
        raise AutomlError(f"trial {trial.number}: the checkpoint of its best epoch {epoch} "
                          f"(model_epoch_{epoch:03d}_step_*.pth in {train_dir}) is missing; was it deleted?")
    return ResolvedCheckpoint(trial.number, trial.value, epoch, checkpoint)

