"""What a study was launched with. The study-wide part is kept in the study record
(``StudyMeta.launch``), so ``automl resume`` and ``automl worker`` need only the record; the rest
(where this worker keeps its files, which devices it uses) belongs to each worker."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WORKER_FIELDS = ("results_dir", "storage")  # each worker's own, never recorded
GRACE_BEATS = 6


@dataclass(frozen=True)
class StudyOptions:
    skill_dir: str
    results_dir: str
    storage: str
    study: str
    spec: str | None = None
    overrides: tuple[str, ...] = ()
    algorithm: str = "bayesian"
    engine: str = "optuna"
    metric: str = "cmc_rank_1"
    direction: str = "maximize"
    max_trials: int = 10
    max_epochs: int | None = None
    gpus: tuple[str, ...] | None = None  # None: auto-detect; (): CPU only
    gpus_per_trial: int = 1
    parallel: int = 1
    retries: int = 1
    seed: int = 0
    keep_checkpoints: bool = False
    hyperparameters: tuple[str, ...] | None = None
    trial_timeout: float | None = None
    ray_address: str | None = None
    handoff: bool = True
    heartbeat: int = 10  # seconds between a running trial's heartbeats; stale after GRACE_BEATS of them
    skill_files: dict[str, str] = field(default_factory=dict)  # the skill's files' digests, set at launch
    narrowed: dict[str, dict] = field(default_factory=dict)  # ranges the training set can fill (automl.data_fit)
    constraints: tuple[str, ...] = ()  # KPI bounds the handed-off trial must meet (studies.constraints)
    budget_hours: float | None = None  # device-hours across every trial (automl.budget)
    timeout: float | None = None  # wall-clock seconds since the launch
    trial_estimate_s: float | None = None  # one trial's seconds from the launch's probe (for the budgets)
    more_objectives: tuple[tuple[str, str], ...] = ()  # (KPI, direction) after the metric: a multi-objective study
    extra: dict[str, Any] = field(default_factory=dict)

    def study_wide(self) -> dict[str, Any]:
        """The options every worker of the study shares, as the record keeps them."""
        data = dataclasses.asdict(self)
        for name in WORKER_FIELDS:
            data.pop(name)
        return data

    @classmethod
    def of_record(cls, launch: dict[str, Any], **worker: Any) -> "StudyOptions":
        """The options of a recorded study, with this worker's own ``results_dir``, ``storage``, ..."""
        data = dict(launch)
        for key in ("overrides", "hyperparameters", "constraints"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        data["more_objectives"] = tuple(tuple(pair) for pair in data.get("more_objectives") or ())
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in {**data, **worker}.items() if k in known})

    @property
    def metrics(self) -> tuple[str, ...]:
        return (self.metric, *(name for name, _ in self.more_objectives))

    @property
    def directions(self) -> tuple[str, ...]:
        return (self.direction, *(direction for _, direction in self.more_objectives))

    @property
    def trials_dir(self) -> Path:
        return Path(self.results_dir) / "trials"

    @property
    def grace(self) -> int:
        """Seconds without a heartbeat after which a running trial is stale (its worker is gone)."""
        return self.heartbeat * GRACE_BEATS


def default_storage(results_dir: str | Path) -> str:
    return f"sqlite:///{(Path(results_dir).resolve() / 'study.db')}"
