"""Opening a study record for reading: the Optuna storage, what automl recorded about the study,
and the results dir that holds its trials' files and ``summary.json``.

Reading never creates anything: a SQLite URL whose file does not exist is an error here,
where ``automl launch`` would create the database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import optuna

from automl.errors import AutomlError
from automl.options import StudyOptions
from automl.resolver import study_options
from automl.storage import load_study, open_storage, study_of_results_dir

SUMMARY = "summary.json"


@dataclass(frozen=True)
class StudyInfo:
    """One study in a storage, as ``list_studies`` reports it."""

    name: str
    n_trials: int
    direction: str
    best_value: float | None
    datetime_start: datetime | None
    made_by: str  # "automl" or "optuna"


@dataclass
class StudyRecord:
    """A study opened for reading, with what automl recorded about it (nothing for plain Optuna)."""

    study: optuna.Study
    storage_url: str
    results_dir: Path | None = None

    @property
    def name(self) -> str:
        return self.study.study_name

    @cached_property
    def options(self) -> StudyOptions | None:
        return study_options(self.study)

    @property
    def made_by_automl(self) -> bool:
        return self.options is not None

    @property
    def metric(self) -> str:
        """The optimised KPI's name; ``value`` for a plain Optuna study."""
        return self.options.metric if self.options else "value"

    @cached_property
    def direction(self) -> str:
        if self.options:
            return self.options.direction
        return "maximize" if self.study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else "minimize"

    @cached_property
    def max_epochs(self) -> int | None:
        """Epochs a full trial trains (what pruning saves is counted against it)."""
        raw = self.study.user_attrs.get("base_spec")
        if raw:
            epochs = (json.loads(raw).get("train") or {}).get("num_epochs")
            if epochs:
                return int(epochs)
        return self.options.max_epochs if self.options else None

    @cached_property
    def summary(self) -> dict[str, Any] | None:
        """``<results>/summary.json`` written by the handoff, when there is one."""
        if self.results_dir is None:
            return None
        try:
            data = json.loads((self.results_dir / SUMMARY).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) and data.get("study") == self.name else None


def _check_readable(url: str) -> None:
    if url.startswith("sqlite") and "///" in url:
        path = url.split("///", 1)[1].split("?", 1)[0]
        if path and path != ":memory:" and not Path(path).is_file():
            raise AutomlError(f"--storage {url}: no such database file ({path})")


def _open_for_reading(url: str) -> optuna.storages.RDBStorage:
    _check_readable(url)
    return open_storage(url)


def list_studies(storage: str) -> list[StudyInfo]:
    """The studies in a storage (SQLAlchemy URL), in creation order."""
    opened = _open_for_reading(storage)
    infos = []
    for summary in optuna.get_all_study_summaries(opened, include_best_trial=True):
        directions = summary.directions
        best = summary.best_trial.values[0] if summary.best_trial is not None and summary.best_trial.values else None
        infos.append(StudyInfo(
            name=summary.study_name, n_trials=summary.n_trials,
            direction="maximize" if directions[0] == optuna.study.StudyDirection.MAXIMIZE else "minimize",
            best_value=best, datetime_start=summary.datetime_start,
            made_by="automl" if "options" in summary.user_attrs else "optuna"))
    return infos


def open_record(storage: str, study: str, results_dir: str | Path | None = None) -> StudyRecord:
    """Open a study by storage URL and name; an unknown name lists the studies that exist."""
    _check_readable(storage)
    return record_of_study(load_study(storage, study), results_dir, storage)


def record_of_results_dir(results_dir: str | Path) -> StudyRecord:
    """The study ``automl launch`` recorded in a results dir (its ``study.json``)."""
    storage, name = study_of_results_dir(results_dir)
    return open_record(storage, name, results_dir)


def record_of_study(study: optuna.Study, results_dir: str | Path | None = None,
                    storage_url: str | None = None) -> StudyRecord:
    """A record around a study already open; the results dir defaults to the one automl recorded."""
    if results_dir is None:
        options = study_options(study)
        results_dir = options.results_dir if options is not None and Path(options.results_dir).is_dir() else None
    storage = getattr(study._storage, "_backend", study._storage)  # Optuna wraps RDB storages in a cache
    return StudyRecord(study, storage_url or str(getattr(storage, "url", "")),
                       Path(results_dir).resolve() if results_dir is not None else None)
