"""The study record's data: ``StudyMeta``, ``TrialStart``, ``TrialEnd``, ``TrialRecord``, and the rules
read off them (best epoch, best trial, what counts towards the budget, device-hours). See
``studies.record`` for when each is written.
"""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Iterable, Mapping

import optuna

from studies.errors import RecordError

TrialState = optuna.trial.TrialState
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
HOST = socket.gethostname()
RECORD_FORMAT = 2
FORMAT_KEY = "record_format"
META_KEY = "meta"
PRIOR_KEY = "prior"  # an earlier study's trial given to the sampler (a warm start), not one of this study's


def is_prior(trial: optuna.trial.FrozenTrial) -> bool:
    """A warm start's observation of an earlier study, not one of this study's trials."""
    return PRIOR_KEY in trial.user_attrs


@dataclass(frozen=True)
class StudyMeta:
    """What a study was launched with (written once, at creation)."""

    metrics: tuple[str, ...]
    directions: tuple[str, ...]  # "maximize" / "minimize", one per metric
    max_trials: int
    max_epochs: int | None  # epochs a full trial trains
    policy: str = "on"
    engine: str = "optuna"
    algorithm: str = ""
    search_space: str = ""  # the launch review's table
    base_spec: dict = field(default_factory=dict)
    launch: dict = field(default_factory=dict)  # the launcher's own options, opaque here
    heartbeat_s: int | None = None  # per-trial heartbeats: interval and grace period
    grace_s: int | None = None
    validation_queries: int | None = None  # queries of the validation split that score every trial
    started_at: float | None = None  # the launch (epoch seconds): the wall-clock budget counts from it
    warm_start: dict | None = None  # {source, observations, replayed}: an earlier study seeded this one

    @property
    def metric(self) -> str:
        return self.metrics[0]

    @property
    def direction(self) -> str:
        return self.directions[0]

    @property
    def multi_objective(self) -> bool:
        return len(self.metrics) > 1

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "StudyMeta":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["metrics"], values["directions"] = tuple(values["metrics"]), tuple(values["directions"])
        return cls(**values)


@dataclass(frozen=True)
class StudyInfo:
    """One study in a storage, as ``list_studies`` reports it."""

    name: str
    n_trials: int
    direction: str
    best_value: float | None
    datetime_start: datetime | None
    made_by: str  # "automl" or "optuna"


@dataclass(frozen=True)
class TrialStart:
    folder: str  # relative to the results dir
    engine: str
    devices: tuple[str, ...]  # GPU ids, or ("cpu",)
    threads: int | None = None
    worker: str = ""  # host:pid of the process that runs it
    ray_node: str | None = None
    host: str = HOST


@dataclass(frozen=True)
class TrialEnd:
    state: str  # COMPLETE, PRUNED or FAIL
    value: float | None = None
    best_epoch: int | None = None
    checkpoints: dict[int, str] = field(default_factory=dict)  # epoch -> path relative to the results dir
    cmc: dict[int, float] | None = None  # the validation CMC curve at the best epoch: rank -> rate
    kpis: dict[str, float] = field(default_factory=dict)  # every KPI of the best epoch's model, its cost too
    failure: str | None = None
    stopped_early: str | None = None  # why a COMPLETE trial trained fewer epochs (the study's budget)
    attempts: tuple[str, ...] = ()  # causes of earlier attempts retried in place
    interrupted: bool = False  # stopped because its controller stopped: re-run, not counted
    wall_seconds: float | None = None
    device_seconds: float | None = None
    launch_to_first_step: float | None = None
    exit_code: int | None = None

    @classmethod
    def of_json(cls, data: dict[str, Any]) -> "TrialEnd":
        """A ``TrialEnd`` that travelled as JSON (``dataclasses.asdict`` of one)."""
        values = dict(data)
        for name in ("checkpoints", "cmc"):  # JSON keys are strings
            if values.get(name) is not None:
                values[name] = {int(k): v for k, v in values[name].items()}
        values["attempts"] = tuple(values.get("attempts") or ())
        return cls(**values)

    def user_attrs(self) -> dict[str, Any]:
        """The outcome as the trial's user attributes (``TrialRecord.of`` reads them back)."""
        out: dict[str, Any] = {}
        for name in (f.name for f in fields(self) if f.name not in ("state", "value")):
            value = getattr(self, name)
            if value is None or value is False or value in ((), {}):
                continue
            if name in ("checkpoints", "cmc"):
                value = {str(k): v for k, v in sorted(value.items())}
            out[name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the record holds it (read-only)."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]  # what the sampler asked
    epochs: dict[int, float]  # the optimised metric per validated epoch
    datetime_start: datetime | None
    datetime_complete: datetime | None
    config: dict[str, Any] = field(default_factory=dict)  # the searched values by dotted spec key
    origin: str | None = None
    folder: str | None = None
    host: str | None = None
    root: str | None = None  # the results dir on ``host`` (where its files are; for messages)
    worker: str | None = None
    engine: str | None = None
    ray_node: str | None = None
    devices: tuple[str, ...] = ()
    threads: int | None = None
    pid: int | None = None
    start_ticks: int | None = None
    checkpoints: dict[int, str] = field(default_factory=dict)
    best_epoch: int | None = None
    cmc: dict[int, float] | None = None
    kpis: dict[str, float] = field(default_factory=dict)  # every KPI of the best epoch's model, its cost too
    failure: str | None = None
    stopped_early: str | None = None
    attempts: tuple[str, ...] = ()
    interrupted: bool = False
    rerun_of: int | None = None
    resume_from: str | None = None
    lineage: tuple[dict, ...] = ()
    shown: tuple[str, ...] = ()  # params recorded for Optuna's tools beside the asked ones (not in ``params``)
    surplus: bool = False  # created past the budget by a worker racing others; never run
    wall_seconds: float | None = None
    device_seconds: float | None = None
    launch_to_first_step: float | None = None
    exit_code: int | None = None

    def kpi(self, name: str, metric: str) -> float | None:
        """A KPI of the trial's best-epoch model: its value for the study's ``metric``, else ``kpis``."""
        return self.value if name == metric and self.value is not None else self.kpis.get(name)

    @property
    def finished(self) -> bool:
        return self.state in ("COMPLETE", "PRUNED", "FAIL")

    @classmethod
    def of(cls, trial: optuna.trial.FrozenTrial, lost_if_silent: bool = False) -> "TrialRecord":
        """The record of an Optuna trial; with ``lost_if_silent`` a FAIL that recorded no cause is
        one whose worker died (failed as stale by another)."""
        attrs = trial.user_attrs
        extra = {k: attrs[k] for k in _ATTRS if attrs.get(k) is not None}
        for name in ("devices", "attempts", "lineage", "shown"):
            if name in extra:
                extra[name] = tuple(extra[name])
        for name in ("checkpoints", "cmc"):  # JSON keys are strings
            if name in extra:
                extra[name] = {int(k): v for k, v in extra[name].items()}
        if lost_if_silent and trial.state == TrialState.FAIL and "failure" not in extra:
            extra["failure"] = "lost: its worker stopped sending heartbeats"
        return cls(number=trial.number, state=trial.state.name, value=trial.values[0] if trial.values else None,
                   params={k: v for k, v in trial.params.items() if k not in extra.get("shown", ())},
                   epochs=dict(trial.intermediate_values),
                   datetime_start=trial.datetime_start, datetime_complete=trial.datetime_complete, **extra)

    def user_attrs(self) -> dict[str, Any]:
        """The Optuna user attributes this record is stored as (``of`` reads them back)."""
        out: dict[str, Any] = {}
        for name in _ATTRS:
            value = getattr(self, name)
            if value is None or value is False or (value in ((), {}) and name != "config"):
                continue
            if name in ("checkpoints", "cmc"):
                value = {str(k): v for k, v in sorted(value.items())}
            out[name] = list(value) if isinstance(value, tuple) else value
        return out


_ATTRS = tuple(f.name for f in fields(TrialRecord) if f.name not in (
    "number", "state", "value", "params", "epochs", "datetime_start", "datetime_complete"))


def objective_values(meta: StudyMeta | None, end: TrialEnd) -> float | list[float] | None:
    """What Optuna is told of a COMPLETE trial: the metric's value; in a multi-objective study each
    metric's (the first at the best epoch, the others of that epoch's model); None when one is missing."""
    if meta is None or not meta.multi_objective:
        return end.value
    values = [end.value, *(end.kpis.get(m) for m in meta.metrics[1:])]
    return None if any(v is None for v in values) else [float(v) for v in values]


def best_epoch(values: Mapping[int, float], direction: str) -> int | None:
    """The best validated epoch: the best value; equal values go to the later epoch."""
    best = None
    for epoch in sorted(values):
        value = values[epoch]
        if value != value:  # NaN never wins
            continue
        if best is None or (value >= values[best] if direction == "maximize" else value <= values[best]):
            best = epoch
    return best


def device_hours(trials: Iterable[TrialRecord], max_epochs: int | None) -> dict[str, float]:
    """Device-hours used, and saved by pruning (a pruned trial's remaining epochs at its own pace)."""
    used = saved = 0.0
    for trial in trials:
        seconds = float(trial.device_seconds or 0.0)
        used += seconds
        done = len(trial.epochs)
        if trial.state == "PRUNED" and done and max_epochs:
            saved += seconds / done * max(max_epochs - done, 0)
    return {"used": round(used / 3600, 4), "saved_by_pruning": round(saved / 3600, 4)}


def superseded(trials: Iterable[TrialRecord]) -> set[int]:
    """Trials replaced by a re-run (stale or interrupted ones)."""
    return {t.rerun_of for t in trials if t.rerun_of is not None}


def budget_trials(trials: list[TrialRecord]) -> list[TrialRecord]:
    """The trials that take a place of ``max_trials``: not replaced by a re-run, not surplus, not
    interrupted (an interrupted trial's re-run takes its place)."""
    replaced = superseded(trials)
    return [t for t in trials if t.number not in replaced and not t.surplus and not t.interrupted]


def counted(trials: list[TrialRecord]) -> list[TrialRecord]:
    """Finished trials that count towards ``max_trials``."""
    return [t for t in budget_trials(trials) if t.finished]


def best_of(trials: Iterable[TrialRecord], direction: str) -> TrialRecord | None:
    """The best COMPLETE trial; equal values go to the earlier trial."""
    done = [t for t in trials if t.state == "COMPLETE" and t.value is not None and t.value == t.value]
    if not done:
        return None
    sign = 1.0 if direction == "maximize" else -1.0
    return max(done, key=lambda t: (sign * t.value, -t.number))


def meta_of(attrs: dict[str, Any], name: str) -> StudyMeta | None:
    """The study's meta, None for a plain Optuna study; a record of another format is refused."""
    version = attrs.get(FORMAT_KEY)
    if version is None:
        if "options" in attrs:  # the first release's record
            raise RecordError(f"study {name}: recorded by an earlier reid-automl (record format 1); this version "
                              f"reads format {RECORD_FORMAT}: start a new study, or read this one with the version "
                              "that ran it")
        return None
    if version != RECORD_FORMAT:
        raise RecordError(f"study {name}: recorded in format {version}; this reid-automl reads format "
                          f"{RECORD_FORMAT}: use the version that ran it")
    return StudyMeta.from_json(attrs[META_KEY])
