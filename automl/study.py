"""A running study: what both engines share.

- the base spec (skill template + ``--spec`` + overrides + AutoML's own defaults) and each
  trial's spec (searched values layered on top), checked before anything is launched;
- the study record: every trial's config, devices, results dir, outcome and failure cause are
  user attributes of its Optuna trial, whatever engine ran it;
- which trials count towards ``--max-trials`` (a trial re-run after an interruption or an
  infrastructure failure is superseded by its re-run), retention of checkpoints, and the
  diagnosis that stops a study whose first trials all fail;
- the controller lock: one controller per results dir, with a heartbeat, so ``automl resume``
  can tell a dead controller from a live one.
"""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import yaml

from automl.errors import AutomlError, StudyStopped
from automl.gpu_pool import GpuPool, Lease
from automl.launcher import TrialOutcome, same_process_alive, start_ticks
from automl.options import StudyOptions
from automl.skill import Skill
from schemas import validate_spec
from search_spaces import SearchSpace, flatten

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
EARLY_FAILURES = 3
DEFAULT_VAL_SPLIT = 0.2
HEARTBEAT_S = 5.0
STALE_S = 30.0
RESULTS_KEY = "results_dir"


def _merge(base: dict, layer: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in layer.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _set(spec: dict, dotted: str, value: Any) -> None:
    node = spec
    *parents, leaf = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _get(spec: dict, dotted: str, default: Any = None) -> Any:
    node: Any = spec
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def parse_overrides(overrides: tuple[str, ...]) -> dict:
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    for item in overrides:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise AutomlError(f"override {item!r}: expected key=value, e.g. train.num_epochs=30")
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist(list(overrides)), resolve=False)
    except (OmegaConfBaseException, ValueError) as err:
        raise AutomlError(f"overrides: cannot parse ({str(err).splitlines()[0]})") from None


def read_spec(path: str) -> dict:
    try:
        loaded = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise AutomlError(f"--spec {path}: not found") from None
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as err:
        raise AutomlError(f"--spec {path}: unreadable ({str(err).splitlines()[0]})") from None
    if not isinstance(loaded, dict):
        raise AutomlError(f"--spec {path}: expected a mapping of spec keys")
    return loaded


def build_base_spec(skill: Skill, options: StudyOptions) -> dict:
    """Template + --spec + overrides, then AutoML's defaults for what the user left unsaid:
    select on a validation split carved from the training identities (a spec's 0 is the
    default, not a choice; ``dataset.val_split=0`` on the command line selects on test/query as
    TAO does), validate and checkpoint every epoch, and with --max-epochs rescale the milestones
    and warm-up to the new length."""
    user_layers = ([read_spec(options.spec)] if options.spec else []) + [parse_overrides(options.overrides)]
    spec = copy.deepcopy(skill.template or {})
    for layer in user_layers:
        spec = _merge(spec, layer)
    said = set().union(*(flatten(layer) for layer in user_layers))
    said_on_command_line = set(flatten(user_layers[-1]))
    if "dataset.val_split" in flatten(spec) and not _get(spec, "dataset.val_split") \
            and "dataset.val_split" not in said_on_command_line:  # only `dataset.val_split=0` keeps TAO's mode
        _set(spec, "dataset.val_split", DEFAULT_VAL_SPLIT)
    if "train.validation_interval" in flatten(spec):
        interval = _get(spec, "train.validation_interval") if "train.validation_interval" in said else 1
        _set(spec, "train.validation_interval", interval)
        checkpoint = _get(spec, "train.checkpoint_interval")
        unit = _get(spec, "train.checkpoint_interval_unit", "epoch")
        if "train.checkpoint_interval" not in said or unit != "epoch" or interval % checkpoint:
            # every validated epoch needs its checkpoint: the resolver hands out the best one
            _set(spec, "train.checkpoint_interval", interval)
            _set(spec, "train.checkpoint_interval_unit", "epoch")
    if options.max_epochs is not None:
        before = _get(spec, "train.num_epochs") or options.max_epochs
        _set(spec, "train.num_epochs", options.max_epochs)
        ratio = options.max_epochs / before
        steps = _get(spec, "train.optim.lr_steps")
        if isinstance(steps, list) and "train.optim.lr_steps" not in said_on_command_line:
            _set(spec, "train.optim.lr_steps", sorted({max(1, round(s * ratio)) for s in steps}))
        for key in ("train.optim.warmup_iters", "train.optim.warmup_epochs"):
            value = _get(spec, key)
            if isinstance(value, int) and key not in said_on_command_line:
                _set(spec, key, round(value * ratio))
    return spec


def is_our_trainer(skill: Skill) -> bool:
    return skill.info.get("network_arch") == "re_identification" and \
        (skill.info.get("actions") or {}).get("train", {}).get("command", "").startswith("re_identification")


def spec_problems(skill: Skill, spec: dict) -> list[str]:
    """Why a train spec would be refused (empty when it may be launched)."""
    if is_our_trainer(skill):
        from reid_core.config import build_spec
        from reid_core.errors import SpecError

        try:
            build_spec([spec], "train")
        except SpecError as err:
            return str(err).splitlines()
        return []
    return [str(v) for v in validate_spec(spec, skill.schema)] if skill.schema else []


@dataclass
class StudyRun:
    options: StudyOptions
    skill: Skill
    base_spec: dict
    space: SearchSpace | None
    study: optuna.Study
    pool: GpuPool
    progress: Any
    stop: threading.Event = field(default_factory=threading.Event)

    # --- specs ---------------------------------------------------------------------------------------

    def trial_dir(self, number: int) -> Path:
        return Path(self.options.results_dir).resolve() / "trials" / str(number)

    def trial_spec(self, config: dict, number: int, resume_from: str | None = None) -> dict:
        spec = self.space.to_spec(config, self.base_spec) if self.space else copy.deepcopy(self.base_spec)
        spec["results_dir"] = str(self.trial_dir(number))
        if resume_from:
            _set(spec, "train.resume_training_checkpoint_path", resume_from)
        return spec

    def base_config(self) -> dict | None:
        """The base spec's own values of the searched parameters, if the space can produce them."""
        if self.space is None:
            return None
        flat = flatten(self.base_spec)
        config, ctx = {}, dict(self.space.fixed) | flat
        for param in self.space.params:
            if param.is_active(ctx) and param.key in flat:
                config[param.key] = flat[param.key]
        return config if not self.space.validate(config) else None

    # --- the record -------------------------------------------------------------------------------------

    def attrs(self, trial_id: int, **values: Any) -> None:
        for key, value in values.items():
            self.study._storage.set_trial_user_attr(trial_id, key, value)

    def record_start(self, trial_id: int, number: int, config: dict, lease: Lease, origin: str) -> None:
        self.attrs(trial_id, config=config, results_dir=str(self.trial_dir(number)), origin=origin,
                   devices=list(lease.devices) or ["cpu"], threads=lease.threads)

    def record_outcome(self, trial_id: int, outcome: TrialOutcome, lease: Lease) -> None:
        seconds = max(outcome.ended - outcome.started, 0.0)
        self.attrs(trial_id, failure=outcome.failure, best_epoch=outcome.best_epoch,
                   epochs_done=len(outcome.kpis), wall_seconds=seconds,
                   device_seconds=seconds * max(len(lease.devices), 1),
                   launch_to_first_step=(outcome.first_step - outcome.started) if outcome.first_step else None,
                   exit_code=outcome.exit_code, kpis={str(k): v for k, v in outcome.kpis.items()})

    def counted(self) -> list[optuna.trial.FrozenTrial]:
        """Finished trials that count towards --max-trials (re-run ones do not)."""
        return [t for t in self.study.get_trials(deepcopy=False, states=FINISHED)
                if not t.user_attrs.get("superseded_by") and not t.user_attrs.get("interrupted")]

    def check_early_failures(self) -> None:
        counted = sorted(self.counted(), key=lambda t: t.number)
        first = counted[:EARLY_FAILURES]
        needed = min(EARLY_FAILURES, self.options.max_trials)
        if len(first) >= needed and all(t.state == optuna.trial.TrialState.FAIL for t in first):
            causes = "; ".join(f"#{t.number} {t.user_attrs.get('failure') or 'failed'}" for t in first)
            log = Path(first[0].user_attrs.get(RESULTS_KEY, self.options.results_dir)) / "stderr.log"
            raise StudyStopped(f"the first {len(first)} trials all failed ({causes}); stopping instead of spending "
                               f"the budget; see {log}")

    def best_number(self) -> int | None:
        try:
            return self.study.best_trial.number
        except ValueError:
            return None

    def marked(self, name: str) -> set[int]:
        """Trial numbers in a study-level list (finished trials' own attributes are frozen)."""
        return set(self.study.user_attrs.get(name, []))

    def mark(self, name: str, number: int) -> None:
        self.study.set_user_attr(name, sorted(self.marked(name) | {number}))

    def after_trial(self, retention: bool = True) -> None:
        """Called by every engine in the controller after each finished trial is recorded: checkpoint
        retention, then ``<results>/dashboard.html`` refreshed in the background (spaced out; a
        failure only logs a warning). The refresh after the study's last trial is written before
        this returns, and stops the page reloading itself."""
        if retention:
            self.apply_retention()
        from studies.live import refresh_dashboard

        running = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        last = self.stop.is_set() or (len(self.counted()) >= self.options.max_trials and not running)
        refresh_dashboard(self.study, self.options.results_dir, live=not last)

    def apply_retention(self) -> None:
        """Delete checkpoints of finished trials other than the best and the base-spec baseline: with
        Optuna's pruners nothing resumes or promotes a finished trial."""
        if self.options.keep_checkpoints:
            return
        keep = {self.best_number()} | {t.number for t in self.study.get_trials(deepcopy=False)
                                       if t.user_attrs.get("origin") == "base spec"}  # the baseline
        deleted = self.marked("checkpoints_deleted")
        for trial in self.study.get_trials(deepcopy=False, states=FINISHED):
            if trial.number in keep or trial.number in deleted or trial.user_attrs.get("interrupted"):
                continue
            folder = Path(trial.user_attrs.get(RESULTS_KEY, "")) / "train"
            for path in list(folder.glob("model_epoch_*.pth")) + [folder / "reid_model_latest.pth"]:
                if path.is_symlink() or path.exists():
                    path.unlink()
            self.mark("checkpoints_deleted", trial.number)


class ControllerLock:
    """``<results>/controller.json``: pid, process start ticks and a heartbeat, refreshed in a thread."""

    def __init__(self, results_dir: str | Path) -> None:
        self.path = Path(results_dir) / "controller.json"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def holder(results_dir: str | Path) -> dict | None:
        """The live controller of a results dir, or None when none (or only a dead one) is there."""
        try:
            data = json.loads((Path(results_dir) / "controller.json").read_text())
        except (OSError, json.JSONDecodeError):
            return None
        alive = same_process_alive(int(data.get("pid", -1)), data.get("start_ticks"))
        fresh = time.time() - float(data.get("heartbeat", 0)) < STALE_S
        return data if alive and fresh else None

    def _write(self) -> None:
        data = {"pid": os.getpid(), "start_ticks": start_ticks(os.getpid()), "heartbeat": time.time()}
        staging = self.path.with_suffix(".tmp")
        staging.write_text(json.dumps(data))
        staging.replace(self.path)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self._write()

    def __enter__(self) -> "ControllerLock":
        holder = self.holder(self.path.parent)
        if holder is not None and holder.get("pid") != os.getpid():
            raise AutomlError(f"--results-dir {self.path.parent}: a controller (pid {holder['pid']}) is running this "
                              "study; stop it first")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write()
        self._thread = threading.Thread(target=self._beat, name="automl-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=1)
        self.path.unlink(missing_ok=True)
