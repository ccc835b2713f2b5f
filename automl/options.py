"""What a study was launched with: kept in the study record so ``automl resume`` needs only the
results dir, and so ``status``/``best``/the dashboard know the metric and direction."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MARKER = "study.json"  # in the results dir: which storage and study live here


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
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "StudyOptions":
        data = json.loads(text)
        for key in ("overrides", "gpus", "hyperparameters"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def trials_dir(self) -> Path:
        return Path(self.results_dir) / "trials"


def default_storage(results_dir: str | Path) -> str:
    return f"sqlite:///{(Path(results_dir).resolve() / 'study.db')}"


def read_marker(results_dir: str | Path) -> dict[str, str] | None:
    path = Path(results_dir) / MARKER
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and "storage" in data and "study" in data else None


def write_marker(results_dir: str | Path, storage: str, study: str) -> None:
    path = Path(results_dir) / MARKER
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".tmp")
    staging.write_text(json.dumps({"storage": storage, "study": study}, indent=2) + "\n")
    staging.replace(path)
