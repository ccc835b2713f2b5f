"""The Ray Tune engine (``--engine ray``): Ray's search algorithms and schedulers decide, our
launcher runs each trial on a Ray node (``automl.engines.ray_trial``), and this controller records
every trial in the study record.

- The controller numbers each trial when Ray creates it (``open_record``): an Optuna trial is
  opened with the trial's parameters, so trial numbers, folders (``trials/<number>``) and the record
  are the same as with the Optuna engine. ``Recorder`` (a Tune callback) reports each epoch and
  closes the record: COMPLETE, PRUNED (stopped by the scheduler before its last epoch) or FAIL.
- Model-based searchers never see a stopped trial's early score as a final one, nor a failure as
  a score (``BudgetAwareOptunaSearch``); PBT perturbs only independent float parameters, clipped
  to their bounds, and records each exploit in the trial's ``lineage``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import optuna
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler
from ray.tune.search import ConcurrencyLimiter

from automl.algorithms import WindowedGPSampler, first_configs, grid_size, startup_trials
from automl.engines.base import Engine
from automl.engines.ray_search import (
    ACTIVE, BudgetAwareOptunaSearch, EngineStop, NumberedSearch, NumberedVariants, Recorder, recorded_pbt,
)
from automl.engines.ray_trial import NUMBER_KEY, RESUME_KEY, TrialActor, TrialContext
from automl.errors import AutomlError, StudyStopped
from automl.gpu_pool import Lease
from automl.launcher import TrialOutcome
from automl.specs import max_epochs, spec_problems
from automl.trial_files import folder_of
from search_spaces.ray_backend import param_space as ray_param_space
from studies.trial_record import TrialStart, best_epoch


@dataclass
class _Live:
    """The controller's view of one Ray trial."""

    number: int
    started: float
    values: dict[int, float] = field(default_factory=dict)
    lineage: list[dict] = field(default_factory=list)
    placed: bool = False


def _error_text(ray_trial: Any) -> str:
    text = getattr(ray_trial, "error_message", None) or ""
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "the trial raised an error"


class RayEngine(Engine):
    name = "ray"

    def __init__(self, run) -> None:
        super().__init__(run)
        self.live: dict[str, _Live] = {}  # Ray trial id -> record
        self.lock = threading.RLock()
        self.stopped: StudyStopped | None = None
        self.max_epochs = max_epochs(run.base_spec)
        self.key = f"{os.getpid()}-{id(self)}"

    # --- the record --------------------------------------------------------------------------------------

    def open_record(self, ray_trial: Any) -> None:
        """Number a trial Ray has just created: open its Optuna trial with its parameters."""
        run, record = self.study_run, self.study_run.record
        with self.lock:
            trial = record.study.ask()  # a queued trial (base spec, re-run) comes first
            queued = trial.user_attrs
            config = dict(queued["config"]) if "config" in queued else run.searched_config(ray_trial.config)
            if run.space is not None and config:
                probe = optuna.trial.FixedTrial(run.space.trial_params(config))
                run.space.suggest(probe)
                record.set_params(trial.number, probe.params, probe.distributions)
            ray_trial.config.update(config)
            ray_trial.config[NUMBER_KEY] = trial.number
            if queued.get("resume_from"):
                ray_trial.config[RESUME_KEY] = str(run.results_dir / queued["resume_from"])
            origin = queued.get("origin", "sampler")
            problems = spec_problems(run.skill, run.trial_spec(config, trial.number, queued.get("resume_from")))
            if problems:  # Ray's spaces only produce valid configs; a bad override makes every spec invalid
                raise AutomlError(f"trial {trial.number}: invalid spec: {problems[0]}")
            record.start(trial.number, TrialStart(folder=folder_of(trial.number), engine=self.name, devices=(),
                                                  threads=run.pool.threads, worker=run.worker),
                         config=config, origin=origin)
            run.running.add(trial.number)
            record.heartbeat([trial.number])
            self.live[ray_trial.trial_id] = _Live(trial.number, time.time())

    def started(self, ray_trial: Any) -> None:
        live = self.live.get(ray_trial.trial_id)
        if live is None:
            return
        pool = self.study_run.pool
        devices = (f"{pool.per_trial} GPU(s) from Ray",) if pool.gpus else ()
        self.study_run.progress.started(live.number, self.study_run.searched_config(ray_trial.config),
                                        Lease(devices, pool.threads))

    def result(self, ray_trial: Any, result: dict) -> None:
        run, live = self.study_run, self.live.get(ray_trial.trial_id)
        metric = run.options.metric
        if live is None or metric not in result:
            return
        epoch, value = int(result["epoch"]) - 1, float(result[metric])
        with self.lock:
            if not live.placed:
                self._place(live)
            if epoch not in live.values:
                run.report(live.number, epoch, value)
            live.values[epoch] = value
        run.progress.epoch(live.number, epoch, value)

    def _place(self, live: _Live) -> None:
        """The trial's process and devices, once its actor wrote them."""
        folder = self.study_run.trial_dir(live.number)
        try:
            process = json.loads((folder / "process.json").read_text())
            devices = json.loads((folder / "devices.json").read_text())
        except (OSError, json.JSONDecodeError):
            return
        self.study_run.record.process(live.number, process.get("pid"), process.get("start_ticks"))
        self.study_run.record.placed(live.number, tuple(devices))
        live.placed = True

    def exploited(self, ray_trial: Any, donor: Any, epoch: int) -> None:
        """PBT copied ``donor``'s checkpoint into ``ray_trial`` and perturbed its config."""
        live, source = self.live.get(ray_trial.trial_id), self.live.get(donor.trial_id)
        if live is None:
            return
        with self.lock:
            config = self.study_run.searched_config(ray_trial.config)
            live.lineage.append({"epoch": epoch, "from_trial": source.number if source else None, "config": config})
            self.study_run.record.lineage(live.number, live.lineage, config)
        self.study_run.progress.message(f"trial {live.number}: continues from trial "
                                        f"{source.number if source else '?'} at epoch {epoch} with perturbed values")

    def finished(self, ray_trial: Any, error: bool) -> None:
        run, live = self.study_run, self.live.pop(ray_trial.trial_id, None)
        if live is None:
            return
        try:
            ended = json.loads((run.trial_dir(live.number) / "outcome.json").read_text())
        except (OSError, json.JSONDecodeError):
            ended = {}
        last = ray_trial.last_result or {}
        with self.lock:
            if not live.placed:
                self._place(live)
            outcome = TrialOutcome("FAIL", kpis=dict(live.values), exit_code=ended.get("exit_code"),
                                   started=ended.get("started") or live.started, first_step=ended.get("first_step"),
                                   ended=ended.get("ended") or time.time(), attempts=list(ended.get("attempts") or []))
            outcome.best_epoch = best_epoch(live.values, run.options.direction)
            outcome.value = live.values[outcome.best_epoch] if outcome.best_epoch is not None else None
            if error:
                outcome.failure = ended.get("failure") or _error_text(ray_trial)
            elif self.stopping:
                outcome.failure, outcome.interrupted = "interrupted: the study was stopped", True
            elif last.get("finished") or int(last.get("epoch", 0)) >= self.max_epochs:
                outcome.state = "COMPLETE"  # a scheduler stops a trial that reached max_t itself
                if outcome.value is None:
                    outcome.state, outcome.failure = "FAIL", f"no {run.options.metric} reported"
            else:
                outcome.state = "PRUNED"
            lanes = run.pool.per_trial if run.pool.gpus else 1
            run.end(live.number, outcome, lanes, retention=False)  # a paused or exploited trial may need any checkpoint
        try:
            run.check_early_failures()
        except StudyStopped as stop:
            self.stopped = stop

    @property
    def stopping(self) -> bool:
        return self.study_run.stop.is_set() or self.stopped is not None

    # --- Ray's side ----------------------------------------------------------------------------------------

    def _search_and_scheduler(self, remaining: int, points: list[dict]) -> tuple[Any, Any]:
        run, options = self.study_run, self.study_run.options
        name = options.algorithm if run.space is not None else "random"
        space = run.space
        metric, mode = options.metric, "max" if options.direction == "maximize" else "min"
        if name in ("bayesian", "tpe", "bohb") and space is not None:
            startup = startup_trials(options.max_trials)
            sampler = WindowedGPSampler(options.seed, startup) if name == "bayesian" else \
                optuna.samplers.TPESampler(seed=options.seed, multivariate=True, group=True, constant_liar=True,
                                           n_startup_trials=startup)
            searcher = BudgetAwareOptunaSearch(space=space.suggest, metric=metric, mode=mode, sampler=sampler,
                                               points_to_evaluate=[space.trial_params(p) for p in points] or None)
            # HyperBand fills a bracket before it cuts: a concurrency limit would keep it from ever cutting
            search = NumberedSearch(self.key, searcher if name == "bohb" else
                                    ConcurrencyLimiter(searcher, max_concurrent=options.parallel))
        elif name == "grid" and space is not None:
            configs = first_configs(space, "grid", options.seed, remaining - len(points))
            search = NumberedVariants(self.key, points_to_evaluate=points + configs, random_state=options.seed,
                                      max_concurrent=options.parallel)
        else:
            search = NumberedVariants(self.key, points_to_evaluate=points or None, random_state=options.seed,
                                      max_concurrent=options.parallel)
        common = dict(time_attr="epoch")
        if name == "asha":
            scheduler = ASHAScheduler(max_t=self.max_epochs, grace_period=1, reduction_factor=3, **common)
        elif name in ("hyperband", "bohb"):
            scheduler = HyperBandScheduler(max_t=self.max_epochs, reduction_factor=3, **common)
        elif name == "pbt":
            scheduler = recorded_pbt(self.key, space, metric, mode, self.max_epochs)
        else:
            scheduler = FIFOScheduler()
        return search, scheduler

    def run(self) -> None:
        import ray  # here: the Optuna engine never pays for Ray's import

        run, options = self.study_run, self.study_run.options
        trials = run.trials()
        remaining = options.max_trials - len(run.record.counted(trials))
        if remaining <= 0:
            return
        points = [dict(t.config) for t in trials if t.state == "WAITING" and t.config][:remaining]
        param_space = ray_param_space(run.space) if run.space is not None and options.algorithm not in \
            ("bayesian", "tpe", "bohb") else {}
        if run.space is not None and options.algorithm == "grid":
            remaining = min(remaining, len(points) + grid_size(run.space))
        env_before = os.environ.get("CUDA_VISIBLE_DEVICES")
        started_ray = False
        if not ray.is_initialized():
            if options.ray_address:
                try:
                    ray.init(address=options.ray_address, log_to_driver=False, configure_logging=False)
                except Exception as err:  # Ray raises several kinds for an address it cannot reach
                    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
                    raise AutomlError(f"--ray-address {options.ray_address}: cannot join the Ray cluster "
                                      f"({first[:200]})") from None
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(run.pool.gpus)  # Ray hands out exactly these ids
                ray.init(num_cpus=max(run.pool.threads * options.parallel, 1), num_gpus=len(run.pool.gpus),
                         include_dashboard=False, log_to_driver=False, configure_logging=False)
            started_ray = True
        ACTIVE[self.key] = self
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the legacy reporter honours verbose=0
        try:
            search, scheduler = self._search_and_scheduler(remaining, points)
            context = TrialContext(self.command, str(run.results_dir), run.base_spec, run.space, options.metric,
                                   options.direction, options.trial_timeout, options.retries, run.pool.threads,
                                   self.max_epochs)
            resources = {"cpu": run.pool.threads, "gpu": run.pool.per_trial if run.pool.gpus else 0}
            trainable = tune.with_resources(tune.with_parameters(TrialActor, context=context), resources)
            tuner = tune.Tuner(
                trainable, param_space=param_space,
                tune_config=tune.TuneConfig(metric=options.metric, mode="max" if options.direction == "maximize"
                                            else "min", search_alg=search, scheduler=scheduler,
                                            num_samples=remaining, reuse_actors=False),
                run_config=tune.RunConfig(name="ray", storage_path=str(run.results_dir), verbose=0,
                                          callbacks=[Recorder(self.key)], stop=EngineStop(self.key),
                                          failure_config=tune.FailureConfig(max_failures=0),
                                          checkpoint_config=tune.CheckpointConfig(num_to_keep=None)),
            )
            with run.liveness():
                tuner.fit()
        finally:
            ACTIVE.pop(self.key, None)
            if started_ray:
                ray.shutdown()
            if env_before is None:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = env_before
        for live in list(self.live.values()):  # trials Ray never closed (the study was stopped)
            outcome = TrialOutcome("FAIL", kpis=dict(live.values), failure="interrupted: the study was stopped",
                                   interrupted=True, started=live.started, ended=time.time())
            run.end(live.number, outcome, 1, retention=False)
        run.apply_retention()  # only now can no pause, promotion or exploit need a checkpoint
        if self.stopped is not None:
            raise self.stopped
