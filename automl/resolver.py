"""``resolve_checkpoint``: the best trial's best epoch's ``model_epoch_XXX_step_XXXXX.pth``.

The best trial is the best COMPLETE trial by the study's metric and direction (equal values: the
earlier trial). Its best epoch and that epoch's checkpoint come from the study record (the best
epoch by the record's one rule, ties to the later epoch). ``reid_model_latest.pth`` only when asked
for (``latest=True``); TAO's resolver handed out the earliest checkpoint instead. A study with no
completed trial, or a checkpoint that was deleted or lives on another machine, is one clear line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl.errors import AutomlError
from automl.trial_files import TrialFolder
from reid_core.checkpoints import parse_checkpoint_name
from studies.constraints import Constraint, best_meeting
from studies.record import StudyRecord
from studies.trial_record import TrialRecord

ACTIONS = ("evaluate", "export", "inference", "train")


@dataclass(frozen=True)
class ResolvedCheckpoint:
    trial: int
    value: float
    epoch: int
    checkpoint: Path

    def as_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "value": self.value, "epoch": self.epoch, "checkpoint": str(self.checkpoint)}


def best_trial(record: StudyRecord, constraints: tuple[Constraint, ...] = ()) -> TrialRecord:
    """The best trial, among those meeting ``constraints`` when given (``studies.constraints``)."""
    if constraints:
        return best_meeting(record.trials(), constraints, record.metric, record.direction)
    trial = record.best_trial()
    if trial is None:
        raise AutomlError(f"study {record.name}: no completed trial yet, so no checkpoint to resolve")
    return trial


def trial_checkpoint(record: StudyRecord, trial: TrialRecord) -> tuple[int, Path]:
    """(best epoch, its checkpoint) of a trial."""
    epoch = record.best_epoch(trial)
    if epoch is None:
        raise AutomlError(f"trial {trial.number}: recorded no {record.metric} per epoch")
    relative = trial.checkpoints.get(epoch)
    if relative is None:
        raise AutomlError(f"trial {trial.number}: no checkpoint of its best epoch {epoch} was recorded")
    return epoch, record.locate(trial, relative, f"the checkpoint of its best epoch {epoch}")


def resolve_checkpoint(source: str | Path | StudyRecord, action: str = "evaluate", latest: bool = False,
                       constraints: tuple[Constraint, ...] = ()) -> ResolvedCheckpoint:
    """The checkpoint an action should use, from a results dir or an opened record; with
    ``constraints``, of the best trial that meets them."""
    if action not in ACTIONS:
        raise AutomlError(f"--action {action}: expected one of {', '.join(ACTIONS)}")
    record = source if isinstance(source, StudyRecord) else StudyRecord.of_results_dir(source)
    trial = best_trial(record, constraints)
    if latest or action == "train":  # resuming a trial wants where it stopped
        folder = record.path(trial.folder)
        link = TrialFolder(folder).latest if folder is not None else Path(str(trial.folder))
        target = TrialFolder(folder).latest_checkpoint() if folder is not None else None
        if target is None:
            raise AutomlError(f"trial {trial.number}: {link} is missing or points to a deleted file")
        parsed = parse_checkpoint_name(target.name)
        return ResolvedCheckpoint(trial.number, trial.value, parsed[0] if parsed else -1, link)
    epoch, checkpoint = trial_checkpoint(record, trial)
    return ResolvedCheckpoint(trial.number, trial.value, epoch, checkpoint)
