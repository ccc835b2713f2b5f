"""The Ray Tune engine (``--engine ray``): Ray's search algorithms and schedulers decide, our
launcher runs each trial, and the controller records every trial in the same Optuna storage.

- Each Ray trial is a ``TrialActor`` (a class Trainable): one ``step`` is one validated epoch of
  the trial's child process (started through ``automl.launcher.run_trial``, on the GPUs Ray
  assigned to the actor). A checkpoint is a pointer to the trial's own ``model_epoch_*.pth`` of
  the epoch Ray last saw, so pausing (HyperBand), promotion and PBT's exploit resume training from
  a real checkpoint without copying weights around.
- The controller numbers each trial when Ray creates it (``_Numbered.next_trial``): an Optuna
  trial is opened with the trial's parameters, so trial numbers, folders (``trials/<number>``) and
  the record are the same as with the Optuna engine. ``_Recorder`` (a Tune callback) reports each
  epoch as an intermediate value and closes the record: COMPLETE, PRUNED (stopped by the
  scheduler before its last epoch) or FAIL with the cause.
- Model-based searchers never see a stopped trial's early score as a final one, nor a failure as
  a score (``_BudgetAwareOptunaSearch``); PBT perturbs only independent float parameters, clipped
  to their bounds, and records each exploit in the trial's ``lineage``.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from ray import tune
from ray.tune.schedulers import PopulationBasedTraining
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.tune.search.optuna import OptunaSearch
from ray.tune.search.search_generator import SearchGenerator
from ray.tune.stopper import Stopper

from automl.algorithms import first_configs, grid_size, startup_trials, WindowedGPSampler
from automl.errors import AutomlError, StudyStopped
from automl.gpu_pool import Lease
from automl.launcher import GRACE_S, TrialOutcome, run_trial
from automl.resolver import checkpoint_of_epoch
from automl.study import StudyRun, spec_problems
from search_spaces import FloatParam, SearchSpace
from search_spaces.params import HELPER_MARK
from search_spaces.ray_backend import param_space as ray_param_space

TrialState = optuna.trial.TrialState
NUMBER_KEY = f"automl{HELPER_MARK}number"  # helper keys never reach a spec
RESUME_KEY = f"automl{HELPER_MARK}resume_from"
CHECKPOINT_WAIT_S = 120.0
FINISH_WAIT_S = 300.0
PBT_QUANTILE = 0.25
_ACTIVE: dict[str, "RayEngine"] = {}  # Tune pickles its search algorithm and callbacks: they hold a key


class _Bound:
    """A Tune object that calls back into the running engine, found by key (picklable)."""

    _engine_key: str = ""

    @property
    def engine(self) -> "RayEngine":
        return _ACTIVE[self._engine_key]


def searched_config(space: SearchSpace | None, config: dict[str, Any]) -> dict[str, Any]:
    """The searched values of a Ray config (helper draws and inactive parameters left out)."""
    if space is None:
        return {}
    ctx, out = dict(space.fixed), {}
    for param in space.params:
        if param.is_active(ctx) and param.key in config:
            ctx[param.key] = out[param.key] = config[param.key]
    return out


@dataclass(frozen=True)
class TrialContext:
    """What every trial actor needs, shipped once to the workers."""

    command: list[str]
    results_dir: str
    base_spec: dict
    space: SearchSpace | None
    metric: str
    direction: str
    timeout: float | None
    retries: int
    threads: int
    max_epochs: int


class TrialActor(tune.Trainable):
    """One trial: its child process runs in a thread; ``step`` hands Ray one validated epoch."""

    def setup(self, config: dict, context: TrialContext | None = None) -> None:
        self.ctx = context
        self.number = int(config[NUMBER_KEY])
        self.resume_from: str | None = config.get(RESUME_KEY)
        self.restored_from: int | None = None
        self.last_epoch = -1  # the last epoch handed to Ray (or restored from a checkpoint)
        self.last_value: float | None = None
        self.events: queue.Queue = queue.Queue()
        self.cancel = threading.Event()
        self.thread: threading.Thread | None = None

    @property
    def folder(self) -> Path:
        return Path(self.ctx.results_dir) / "trials" / str(self.number)

    def _lease(self) -> Lease:
        import ray

        return Lease(tuple(str(g) for g in ray.get_gpu_ids()), self.ctx.threads)

    def _spec(self, resume_from: str | None) -> dict:
        ctx = self.ctx
        values = searched_config(ctx.space, self.config)
        spec = ctx.space.to_spec(values, ctx.base_spec) if ctx.space else json.loads(json.dumps(ctx.base_spec))
        spec["results_dir"] = str(self.folder)
        if resume_from:
            spec.setdefault("train", {})["resume_training_checkpoint_path"] = resume_from
        return spec

    def _on_epoch(self, epoch: int, value: float) -> bool:
        self.events.put(("epoch", epoch, value))
        return False  # Ray's scheduler stops trials through ``cleanup``

    def _work(self) -> None:
        outcome: TrialOutcome | None = None
        resume_from, attempt = self.resume_from, 1
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / "devices.json").write_text(json.dumps(list(self._lease().devices) or ["cpu"]))
            while True:
                outcome = run_trial(self.ctx.command, self.folder, self._spec(resume_from), self._lease(),
                                    self.ctx.metric, self.ctx.direction, self._on_epoch,
                                    timeout=self.ctx.timeout, cancelled=self.cancel.is_set,
                                    skip_existing=True)
                retry = outcome.state == "FAIL" and outcome.infrastructure and not outcome.interrupted \
                    and attempt <= self.ctx.retries
                if not retry:
                    break
                attempt += 1
                latest = self.folder / "train" / "reid_model_latest.pth"
                resume_from = str(latest.resolve()) if latest.exists() else resume_from
        except BaseException as err:  # never leave step() waiting
            outcome = TrialOutcome("FAIL", failure=f"launcher error: {type(err).__name__}: {err}")
        self.events.put(("end", outcome, attempt))

    def step(self) -> dict:
        if self.thread is None and self.last_epoch + 1 >= self.ctx.max_epochs:  # restored after its last epoch
            return {self.ctx.metric: self.last_value, "epoch": self.last_epoch + 1, "finished": True,
                    "trial_number": self.number, "done": True}
        if self.thread is None:
            self.thread = threading.Thread(target=self._work, name=f"trial-{self.number}", daemon=True)
            self.thread.start()
        while True:
            kind, *rest = self.events.get()
            if kind == "epoch":
                epoch, value = rest
                if epoch <= self.last_epoch:  # a restored trial repeats nothing Ray has seen
                    continue
                self.last_epoch, self.last_value = epoch, value
                return {self.ctx.metric: value, "epoch": epoch + 1, "trial_number": self.number}
            outcome, attempts = rest
            record = {"state": outcome.state, "failure": outcome.failure, "exit_code": outcome.exit_code,
                      "attempts": attempts, "restored_from": self.restored_from,
                      "launch_to_first_step": (outcome.first_step - outcome.started)
                      if outcome.first_step else None}
            (self.folder / "outcome.json").write_text(json.dumps(record))
            if outcome.state != "COMPLETE":
                raise RuntimeError(outcome.failure or "the trial failed")
            last = max(outcome.kpis) if outcome.kpis else self.last_epoch
            return {self.ctx.metric: outcome.kpis.get(last, 0.0), "epoch": last + 1, "finished": True,
                    "trial_number": self.number, "done": True}

    def save_checkpoint(self, checkpoint_dir: str) -> dict:
        """A pointer to this trial's checkpoint of the last epoch Ray saw."""
        train = self.folder / "train"
        deadline = time.monotonic() + CHECKPOINT_WAIT_S
        found = checkpoint_of_epoch(train, self.last_epoch)
        while found is None and time.monotonic() < deadline:
            time.sleep(0.2)
            found = checkpoint_of_epoch(train, self.last_epoch)
        if found is None:
            raise RuntimeError(f"trial {self.number}: no checkpoint of epoch {self.last_epoch} in {train}")
        return {"pth": str(found.resolve()), "epoch": self.last_epoch, "value": self.last_value,
                "trial": self.number}

    def load_checkpoint(self, checkpoint: dict) -> None:
        self.resume_from = checkpoint["pth"]
        self.last_epoch, self.last_value = int(checkpoint["epoch"]), checkpoint["value"]
        self.restored_from = int(checkpoint["trial"])

    def reset_config(self, new_config: dict) -> bool:
        return False  # a new config is a new actor (and a new child process)

    def cleanup(self) -> None:
        if self.thread is not None and self.last_epoch + 1 >= self.ctx.max_epochs:
            self.thread.join(timeout=FINISH_WAIT_S)  # its last epoch was seen: let it write its checkpoint
        self.cancel.set()  # the launcher stops the child's process group
        if self.thread is not None:
            self.thread.join(timeout=GRACE_S + 10)


@dataclass
class _Live:
    """The controller's view of one Ray trial."""

    number: int
    trial_id: int
    started: float
    values: dict[int, float] = field(default_factory=dict)
    lineage: list[dict] = field(default_factory=list)
    pid_recorded: bool = False


class RayEngine:
    name = "ray"

    def __init__(self, run: StudyRun) -> None:
        self.run_ = run
        self.command = run.skill.train_command(Path("{config_path}"))
        self.live: dict[str, _Live] = {}  # Ray trial id -> record
        self.lock = threading.RLock()
        self.stopped: StudyStopped | None = None
        self.max_epochs = int((run.base_spec.get("train") or {}).get("num_epochs") or 1)
        self.key = f"{os.getpid()}-{id(self)}"

    # --- the record --------------------------------------------------------------------------------------

    def open_record(self, ray_trial: Any) -> None:
        """Number a trial Ray has just created: open its Optuna trial with its parameters."""
        run, study = self.run_, self.run_.study
        with self.lock:
            waiting = bool(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
            trial = study.ask()  # an enqueued trial (base spec, re-run) comes first
            fixed = trial.user_attrs
            config = dict(fixed["config"]) if waiting and "config" in fixed else \
                searched_config(run.space, ray_trial.config)
            if run.space is not None and config:
                probe = optuna.trial.FixedTrial(run.space.trial_params(config))
                run.space.suggest(probe)
                for name, dist in probe.distributions.items():
                    study._storage.set_trial_param(trial._trial_id, name, dist.to_internal_repr(probe.params[name]),
                                                   dist)
            ray_trial.config.update(config)
            ray_trial.config[NUMBER_KEY] = trial.number
            if fixed.get("resume_from"):
                ray_trial.config[RESUME_KEY] = fixed["resume_from"]
            origin = fixed.get("origin", "sampler")
            spec = run.trial_spec(config, trial.number, fixed.get("resume_from"))
            problems = spec_problems(run.skill, spec)
            if problems:  # Ray's spaces only produce valid configs; a bad override makes every spec invalid
                raise AutomlError(f"trial {trial.number}: invalid spec: {problems[0]}")
            run.attrs(trial._trial_id, config=config, results_dir=str(run.trial_dir(trial.number)), origin=origin,
                      engine="ray", ray_trial_id=ray_trial.trial_id, threads=run.pool.threads)
            self.live[ray_trial.trial_id] = _Live(trial.number, trial._trial_id, time.time())

    def started(self, ray_trial: Any) -> None:
        live = self.live.get(ray_trial.trial_id)
        if live is None:
            return
        pool = self.run_.pool
        devices = (f"{pool.per_trial} GPU(s) from Ray",) if pool.gpus else ()
        self.run_.progress.started(live.number, searched_config(self.run_.space, ray_trial.config),
                                   Lease(devices, pool.threads))

    def result(self, ray_trial: Any, result: dict) -> None:
        run, live = self.run_, self.live.get(ray_trial.trial_id)
        metric = run.options.metric
        if live is None or metric not in result:
            return
        epoch, value = int(result["epoch"]) - 1, float(result[metric])
        with self.lock:
            if not live.pid_recorded:
                self._record_process(live)
            if epoch not in live.values:
                run.study._storage.set_trial_intermediate_value(live.trial_id, epoch, value)
            live.values[epoch] = value
        run.progress.epoch(live.number, epoch, value)

    def _record_process(self, live: _Live) -> None:
        try:
            process = json.loads((self.run_.trial_dir(live.number) / "process.json").read_text())
        except (OSError, json.JSONDecodeError):
            return
        devices = json.loads((self.run_.trial_dir(live.number) / "devices.json").read_text()) \
            if (self.run_.trial_dir(live.number) / "devices.json").exists() else None
        self.run_.attrs(live.trial_id, pid=process.get("pid"), start_ticks=process.get("start_ticks"),
                        **({"devices": devices} if devices is not None else {}))
        live.pid_recorded = True

    def exploited(self, ray_trial: Any, donor: Any, epoch: int) -> None:
        """PBT copied ``donor``'s checkpoint into ``ray_trial`` and perturbed its config."""
        live, source = self.live.get(ray_trial.trial_id), self.live.get(donor.trial_id)
        if live is None:
            return
        with self.lock:
            config = searched_config(self.run_.space, ray_trial.config)
            live.lineage.append({"epoch": epoch, "from_trial": source.number if source else None, "config": config})
            self.run_.attrs(live.trial_id, lineage=live.lineage, config=config)
        self.run_.progress.message(f"trial {live.number}: continues from trial "
                                   f"{source.number if source else '?'} at epoch {epoch} with perturbed values")

    def finished(self, ray_trial: Any, error: bool) -> None:
        run, live = self.run_, self.live.pop(ray_trial.trial_id, None)
        if live is None:
            return
        folder = run.trial_dir(live.number)
        try:
            outcome = json.loads((folder / "outcome.json").read_text())
        except (OSError, json.JSONDecodeError):
            outcome = {}
        last = ray_trial.last_result or {}
        with self.lock:
            if not live.pid_recorded:
                self._record_process(live)
            seconds = time.time() - live.started
            lanes = run.pool.per_trial if run.pool.gpus else 1
            values = live.values
            better = max if run.options.direction == "maximize" else min
            best_value = better(values.values()) if values else None
            best_epoch = max(e for e, v in values.items() if v == best_value) if values else None
            attrs = dict(best_epoch=best_epoch, epochs_done=len(values), wall_seconds=seconds,
                         device_seconds=seconds * lanes, exit_code=outcome.get("exit_code"),
                         launch_to_first_step=outcome.get("launch_to_first_step"),
                         kpis={str(k): v for k, v in sorted(values.items())})
            failure = None
            if error:
                failure = outcome.get("failure") or _error_text(ray_trial)
                state = TrialState.FAIL
            elif self.stopping:
                failure, state = "interrupted: the study was stopped", TrialState.FAIL
                attrs["interrupted"] = True
            elif last.get("finished") or int(last.get("epoch", 0)) >= self.max_epochs:
                state = TrialState.COMPLETE  # a scheduler stops a trial that reached max_t itself
            else:
                state = TrialState.PRUNED
                failure = None
            run.attrs(live.trial_id, failure=failure, **attrs)
            if state == TrialState.COMPLETE and best_value is None:
                state, failure = TrialState.FAIL, f"no {run.options.metric} reported"
                run.attrs(live.trial_id, failure=failure)
            if state == TrialState.COMPLETE:
                run.study.tell(live.number, best_value)
            else:
                run.study.tell(live.number, state=state)
        run.progress.finished(live.number, state.name, best_value if state != TrialState.FAIL else None, failure)
        run.after_trial(retention=False)  # a paused or exploited trial may still need any checkpoint
        try:
            run.check_early_failures()
        except StudyStopped as stop:
            self.stopped = stop

    @property
    def stopping(self) -> bool:
        return self.run_.stop.is_set() or self.stopped is not None

    # --- Ray's side ----------------------------------------------------------------------------------------

    def _search_and_scheduler(self, remaining: int, points: list[dict]) -> tuple[Any, Any]:
        from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler

        run, options = self.run_, self.run_.options
        name = options.algorithm if run.space is not None else "random"
        space = run.space
        metric, mode = options.metric, "max" if options.direction == "maximize" else "min"
        if name in ("bayesian", "tpe", "bohb") and space is not None:
            startup = startup_trials(options.max_trials)
            sampler = WindowedGPSampler(options.seed, startup) if name == "bayesian" else \
                optuna.samplers.TPESampler(seed=options.seed, multivariate=True, group=True, constant_liar=True,
                                           n_startup_trials=startup)
            searcher = _BudgetAwareOptunaSearch(space=space.suggest, metric=metric, mode=mode, sampler=sampler,
                                                points_to_evaluate=[space.trial_params(p) for p in points] or None)
            # HyperBand fills a bracket before it cuts: a concurrency limit would keep it from ever cutting
            search = _NumberedSearch(self.key, searcher if name == "bohb" else
                                     ConcurrencyLimiter(searcher, max_concurrent=options.parallel))
        elif name == "grid" and space is not None:
            configs = first_configs(space, "grid", options.seed, remaining - len(points))
            search = _NumberedVariants(self.key, points_to_evaluate=points + configs, random_state=options.seed,
                                       max_concurrent=options.parallel)
        else:
            search = _NumberedVariants(self.key, points_to_evaluate=points or None, random_state=options.seed,
                                       max_concurrent=options.parallel)
        common = dict(time_attr="epoch")
        if name == "asha":
            scheduler = ASHAScheduler(max_t=self.max_epochs, grace_period=1, reduction_factor=3, **common)
        elif name in ("hyperband", "bohb"):
            scheduler = HyperBandScheduler(max_t=self.max_epochs, reduction_factor=3, **common)
        elif name == "pbt":
            scheduler = _pbt(self.key, space, metric, mode, self.max_epochs)
        else:
            scheduler = FIFOScheduler()
        return search, scheduler

    def run(self) -> None:
        import ray

        run, options = self.run_, self.run_.options
        counted = len(run.counted())
        remaining = options.max_trials - counted
        if remaining <= 0:
            return
        waiting = run.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        points = [dict(t.user_attrs["config"]) for t in waiting if "config" in t.user_attrs][:remaining]
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
        _ACTIVE[self.key] = self
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the legacy reporter honours verbose=0
        try:
            search, scheduler = self._search_and_scheduler(remaining, points)
            context = TrialContext(self.command, str(Path(options.results_dir).resolve()), run.base_spec, run.space,
                                   options.metric, options.direction, options.trial_timeout, options.retries,
                                   run.pool.threads, self.max_epochs)
            resources = {"cpu": run.pool.threads, "gpu": run.pool.per_trial if run.pool.gpus else 0}
            trainable = tune.with_resources(tune.with_parameters(TrialActor, context=context), resources)
            tuner = tune.Tuner(
                trainable, param_space=param_space,
                tune_config=tune.TuneConfig(metric=options.metric, mode="max" if options.direction == "maximize"
                                            else "min", search_alg=search, scheduler=scheduler,
                                            num_samples=remaining, reuse_actors=False),
                run_config=tune.RunConfig(name="ray", storage_path=str(Path(options.results_dir).resolve()),
                                          verbose=0, callbacks=[_Recorder(self.key)], stop=_Stop(self.key),
                                          failure_config=tune.FailureConfig(max_failures=0),
                                          checkpoint_config=tune.CheckpointConfig(num_to_keep=None)),
            )
            tuner.fit()
        finally:
            _ACTIVE.pop(self.key, None)
            if started_ray:
                ray.shutdown()
            if env_before is None:
                os.environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                os.environ["CUDA_VISIBLE_DEVICES"] = env_before
        for live in list(self.live.values()):  # trials Ray never closed (the study was stopped)
            run.attrs(live.trial_id, failure="interrupted: the study was stopped", interrupted=True)
            run.study.tell(live.number, state=TrialState.FAIL)
        run.apply_retention()  # only now can no pause, promotion or exploit need a checkpoint
        if self.stopped is not None:
            raise self.stopped


def _error_text(ray_trial: Any) -> str:
    text = ""
    try:
        text = ray_trial.error_message or ""
    except AttributeError:
        pass
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "the trial raised an error"


class _Stop(_Bound, Stopper):
    """Ends the whole experiment when the controller is stopping."""

    def __init__(self, key: str) -> None:
        self._engine_key = key

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.engine.stopping


class _Recorder(_Bound, tune.Callback):
    def __init__(self, key: str) -> None:
        self._engine_key = key

    def on_trial_start(self, iteration, trials, trial, **info):
        self.engine.started(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.engine.result(trial, result)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.engine.finished(trial, error=False)

    def on_trial_error(self, iteration, trials, trial, **info):
        self.engine.finished(trial, error=True)


class _Numbering(_Bound):
    """A search algorithm whose new trials the controller numbers and records."""

    def __init__(self, key: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._engine_key = key

    def next_trial(self):
        trial = super().next_trial()
        if trial is not None:
            self.engine.open_record(trial)
        return trial


class _NumberedVariants(_Numbering, BasicVariantGenerator):
    """Ray's default generator, numbered."""


class _NumberedSearch(_Numbering, SearchGenerator):
    """A searcher's generator, numbered."""


class _BudgetAwareOptunaSearch(OptunaSearch):
    """Ray's OptunaSearch, told the truth: a trial stopped before its last epoch is PRUNED (its early
    score is no final score) and a failed one is FAIL (never a score)."""

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if error:
            super().on_trial_complete(trial_id, None, error=True)
        elif not result or not result.get("finished"):
            super().on_trial_complete(trial_id, None, error=False)  # told PRUNED
        else:
            super().on_trial_complete(trial_id, result, error=False)


class _Clip:
    """PBT's explore step, kept inside the parameters' bounds."""

    def __init__(self, bounds: dict[str, tuple[float, float]]) -> None:
        self.bounds = bounds

    def __call__(self, config: dict) -> dict:
        for key, (low, high) in self.bounds.items():
            if key in config:
                config[key] = float(min(max(config[key], low), high))
        return config


class _RecordedPBT(_Bound, PopulationBasedTraining):
    """PBT whose exploit step keeps the clone's own number and folder and records its lineage."""

    def __init__(self, key: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._engine_key = key

    def _exploit(self, tune_controller, trial, trial_to_clone):
        own = trial.config[NUMBER_KEY]
        epoch = int((self._trial_state[trial_to_clone].last_result or {}).get("epoch", 0)) - 1
        super()._exploit(tune_controller, trial, trial_to_clone)
        config = dict(trial.config)
        config[NUMBER_KEY] = own
        config.pop(RESUME_KEY, None)
        trial.set_config(config)
        self.engine.exploited(trial, trial_to_clone, epoch)


def _pbt(key: str, space: SearchSpace | None, metric: str, mode: str, max_epochs: int) -> _RecordedPBT:
    """PopulationBasedTraining over the independent float parameters (perturbed within bounds)."""
    floats = {p.key: p for p in (space.params if space else ()) if isinstance(p, FloatParam)
              and not p.relations and not p.active_if and not p.requires and p.low < p.high}
    if not floats:
        raise AutomlError("--algorithm pbt: the search space has no independent float parameter to perturb")
    mutations = {key_: (tune.loguniform(p.low, p.high) if p.log else tune.uniform(p.low, p.high))
                 for key_, p in floats.items()}
    return _RecordedPBT(key, time_attr="epoch", perturbation_interval=max(1, max_epochs // 4),
                        hyperparam_mutations=mutations, quantile_fraction=PBT_QUANTILE,
                        custom_explore_fn=_Clip({k: (p.low, p.high) for k, p in floats.items()}), synch=False)
