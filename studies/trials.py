"""One row per trial: ``trials_frame`` and its CSV / Parquet export, read from the study record.

Columns, in order: ``number``, ``state``, ``value`` (the optimised metric), ``origin``,
``devices`` (``"0,1"`` or ``"cpu"``), ``host``, ``datetime_start``, ``datetime_complete``,
``duration_s``, ``epochs_done``, ``best_epoch``, ``device_seconds``, ``failure`` (the cause),
``checkpoint`` (the best epoch's checkpoint while this machine holds it), ``results_dir`` (the
trial's folder on this machine); then one ``params_<key>`` column per searched parameter, by its
dotted spec key (automl's ``config``; a plain Optuna study's ``trial.params``); then
``<metric>_epoch_<n>``, the intermediate value of each epoch. A plain Optuna study leaves automl's
columns empty.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from studies.errors import RecordError
from studies.record import StudyRecord
from studies.trial_record import TrialRecord

PARAM_PREFIX = "params_"
EPOCH_INFIX = "_epoch_"
FIXED_COLUMNS = ("number", "state", "value", "origin", "devices", "host", "datetime_start", "datetime_complete",
                 "duration_s", "epochs_done", "best_epoch", "device_seconds", "failure", "checkpoint", "results_dir")


def trials_frame(storage: str, study: str) -> pd.DataFrame:
    """The trials of study ``study`` in ``storage`` (a SQLAlchemy URL), one row each."""
    return frame_of(StudyRecord.open(storage, study))


def trial_params(record: StudyRecord, trial: TrialRecord) -> dict[str, Any]:
    """The searched values by spec key: automl's ``config``; Optuna's params for a plain study."""
    return dict(trial.config) if record.made_by_automl else dict(trial.params)


def _checkpoint(record: StudyRecord, trial: TrialRecord) -> str | None:
    epoch = record.best_epoch(trial)
    path = record.path(trial.checkpoints.get(epoch), trial) if epoch is not None else None
    return str(path) if path is not None and path.is_file() else None


def frame_of(record: StudyRecord, trials: list[TrialRecord] | None = None) -> pd.DataFrame:
    """``trials_frame`` of an opened record (``trials``: the ones already read, to read them once)."""
    trials = record.trials() if trials is None else trials
    rows, param_keys, epochs = [], {}, set()
    for trial in trials:
        start, end = trial.datetime_start, trial.datetime_complete
        folder = record.path(trial.folder, trial)
        row: dict[str, Any] = {
            "number": trial.number, "state": trial.state, "value": trial.value, "origin": trial.origin,
            "devices": ",".join(map(str, trial.devices)) or None, "host": trial.host,
            "datetime_start": start, "datetime_complete": end,
            "duration_s": (end - start).total_seconds() if start and end else None,
            "epochs_done": len(trial.epochs) or None, "best_epoch": record.best_epoch(trial),
            "device_seconds": trial.device_seconds, "failure": trial.failure,
            "checkpoint": _checkpoint(record, trial), "results_dir": str(folder) if folder else None,
        }
        for key, value in trial_params(record, trial).items():
            param_keys.setdefault(key, None)
            row[PARAM_PREFIX + key] = value
        for epoch, value in trial.epochs.items():
            epochs.add(epoch)
            row[f"{record.metric}{EPOCH_INFIX}{epoch}"] = value
        rows.append(row)
    columns = list(FIXED_COLUMNS) + [PARAM_PREFIX + k for k in param_keys] + \
        [f"{record.metric}{EPOCH_INFIX}{e}" for e in sorted(epochs)]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("value", "duration_s", "device_seconds"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in ("epochs_done", "best_epoch"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    for column in ("datetime_start", "datetime_complete"):
        frame[column] = pd.to_datetime(frame[column])
    frame.attrs.update(study=record.name, metric=record.metric, direction=record.direction)
    return frame


def epoch_columns(frame: pd.DataFrame) -> dict[int, str]:
    """Epoch -> column of the per-epoch intermediate values."""
    prefix = f"{frame.attrs.get('metric', 'value')}{EPOCH_INFIX}"
    return {int(c[len(prefix):]): c for c in frame.columns if c.startswith(prefix) and c[len(prefix):].isdigit()}


def param_columns(frame: pd.DataFrame) -> dict[str, str]:
    """Parameter key -> its column."""
    return {c[len(PARAM_PREFIX):]: c for c in frame.columns if c.startswith(PARAM_PREFIX)}


def portable(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as CSV and Parquet can hold it: lists and dicts (``lr_steps``) as JSON text, a column
    mixing kinds of values (a categorical of strings and numbers) as text."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype != object:
            continue
        values = out[column].dropna()
        if values.map(lambda v: isinstance(v, (list, tuple, dict))).any():
            out[column] = out[column].map(lambda v: v if v is None or _missing(v) else json.dumps(v))
        elif len({_kind(v) for v in values}) > 1:
            out[column] = out[column].map(lambda v: None if _missing(v) else str(v))
    return out


def _missing(value: Any) -> bool:
    return not isinstance(value, (list, tuple, dict)) and bool(pd.isna(value))


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def export_trials(frame: pd.DataFrame, csv: str | Path | TextIO | None = None,
                  parquet: str | Path | None = None) -> None:
    """Write the frame to CSV (a path or an open text stream) and/or Parquet (see ``portable``)."""
    table = portable(frame)
    for flag, target, write in (("--csv", csv, lambda t: table.to_csv(t, index=False)),
                                ("--parquet", parquet, lambda t: table.to_parquet(t, index=False))):
        if target is None:
            continue
        try:
            write(target if hasattr(target, "write") else Path(target))
        except BrokenPipeError:  # `automl trials ... | head`
            raise
        except OSError as err:
            raise RecordError(f"{flag} {target}: cannot write ({err.strerror or err})") from None
