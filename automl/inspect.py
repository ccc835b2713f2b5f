"""What ``automl status`` and ``automl best`` print: read from the study record only (no torch, no
trainer import), from any worker's results dir."""

from __future__ import annotations

from typing import Any

from automl.errors import AutomlError
from automl.resolver import best_trial, resolve_checkpoint
from studies.record import StudyRecord


def status(results_dir: str) -> dict[str, Any]:
    record = StudyRecord.of_results_dir(results_dir)
    trials = []
    for t in record.trials():
        epoch = record.best_epoch(t)
        checkpoint = record.path(t.checkpoints.get(epoch), t) if epoch is not None else None
        folder = record.path(t.folder, t)
        trials.append({
            "number": t.number, "state": t.state, "value": t.value, "params": t.config or t.params,
            "cuda_visible_devices": ",".join(d for d in t.devices if d != "cpu"), "host": t.host,
            "datetime_start": t.datetime_start.isoformat() if t.datetime_start else None,
            "datetime_complete": t.datetime_complete.isoformat() if t.datetime_complete else None,
            "results_dir": str(folder) if folder else None,
            "checkpoint": str(checkpoint) if checkpoint is not None and checkpoint.is_file() else None,
            "failure": t.failure, "origin": t.origin,
        })
    try:
        best = best_trial(record)
        best_info: dict[str, Any] | None = {"number": best.number, "value": best.value,
                                            "params": best.config or best.params}
    except AutomlError:
        best_info = None
    return {"study": record.name, "metric": record.metric, "direction": record.direction, "trials": trials,
            "best": best_info}


def best(results_dir: str, action: str = "evaluate", latest: bool = False) -> dict[str, Any]:
    return resolve_checkpoint(results_dir, action=action, latest=latest).as_dict()
