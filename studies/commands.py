"""What ``automl dashboard``, ``automl trials`` and ``automl studies`` do; errors are RecordError."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

from studies.dashboard import write_dashboard
from studies.errors import RecordError
from studies.live import DASHBOARD_NAME
from studies.record import StudyRecord
from studies.server import serve_dashboard
from studies.storage import list_studies, mask
from studies.trials import export_trials, frame_of


def study_record(results_dir: str | None, storage: str | None, study: str | None) -> StudyRecord:
    """The study named by ``--results-dir``, or by ``--storage`` and ``--study``."""
    if results_dir is not None:
        if storage or study:
            raise RecordError("--results-dir: give it alone, or --storage with --study instead")
        return StudyRecord.of_results_dir(results_dir)
    if not storage:
        raise RecordError("which study? give --results-dir R, or --storage URL --study NAME")
    if not study:
        names = ", ".join(info.name for info in list_studies(storage)) or "none"
        raise RecordError(f"--study: required with --storage (studies there: {names})")
    return StudyRecord.open(storage, study)


def dashboard(results_dir: str | None, storage: str | None, study: str | None, out: str | None = None,
              serve: bool = False, host: str = "127.0.0.1", port: int = 8050,
              say: Callable[[str], None] = print) -> Path:
    record = study_record(results_dir, storage, study)
    if out is None and record.results_dir is None:
        raise RecordError(f"--out: required (study {record.name} was named by --storage, not by a results dir)")
    path = Path(out) if out is not None else record.results_dir / DASHBOARD_NAME
    try:
        write_dashboard(record, path, live=record.is_active())
    except OSError as err:
        raise RecordError(f"--out {path}: cannot write ({err.strerror or err})") from None
    say(str(path))
    if serve:
        serve_dashboard(lambda: record, host, port, path.name, say)
    return path


def export(results_dir: str | None, storage: str | None, study: str | None, csv: str | None = None,
           parquet: str | None = None) -> None:
    frame = frame_of(study_record(results_dir, storage, study))
    if csv is None and parquet is None:
        try:
            export_trials(frame, csv=sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:  # the reader (`| head`) stopped early: not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    export_trials(frame, csv=csv, parquet=parquet)


def print_studies(storage: str) -> None:
    infos = list_studies(storage)
    if not infos:
        print(f"no studies in {mask(storage)}")
    for info in infos:
        best = "" if info.best_value is None else f"best {info.best_value:.4f}"
        started = f"{info.datetime_start:%Y-%m-%d %H:%M}" if info.datetime_start else ""
        print(f"{info.name}\t{info.n_trials} trials\t{info.direction}\t{best}\t{info.made_by}\t{started}")
