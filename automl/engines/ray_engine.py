"""The Ray Tune engine (``--engine ray``): trials run as Ray actors on a Ray cluster (one started here,
or ``--ray-address``), Ray's schedulers decide which go on (ASHA, HyperBand, PBT), and this
controller records every trial in the study record.

- Configs come from the study record's own sampler, just before Ray starts each trial (our
  subclasses of Ray's schedulers call ``configure``): the same TPE, GP, random or grid the Optuna
  engine uses, seeing every trial of the study and every result so far; a queued replay or re-run
  comes first. Each trial's record is opened then, with its number, so trial numbers, folders
  (``trials/<number>``) and the record are the Optuna engine's.
- ``Recorder`` (a Tune callback) records each epoch (value, checkpoints, node, process) and closes
  the trial: COMPLETE, PRUNED (a scheduler stopped it before its last epoch) or FAIL with the
  cause the trial's node reported; an exploit of PBT is recorded as the trial's ``lineage``.
- One ``TrialServer`` per node (torch and Lightning imported once) starts that node's trials.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import ray
from ray import tune
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from automl.algorithms import grid_size
from automl.engines.base import Engine
from automl.engines.ray_cluster import ray_session
from automl.engines.ray_search import (ACTIVE, BudgetedVariants, EngineStop, RecordedASHA, RecordedFIFO, Recorder,
                                      recorded_pbt)
from automl.engines.ray_trial import (NUMBER_KEY, RESUME_KEY, TrialActor, TrialContext, TrialFailed, TrialServer,
                                      server_name)
from automl.errors import AutomlError, StudyStopped
from automl.gpu_pool import GpuPool, Lease
from automl.options import StudyOptions
from automl.specs import max_epochs, spec_problems
from automl.trial_files import folder_of
from automl.trial_process import GRACE_S
from studies.trial_record import TrialEnd, TrialStart, best_epoch

SERVER_READY_S = 300.0
PROPOSALS = 3  # invalid specs in a row before the study is stopped
FAILED_MARK = f"{TrialFailed.__module__}.{TrialFailed.__name__}: "
HYPERBAND = ("hyperband", "bohb")  # successive halving in several brackets (asynchronous HyperBand)
ETA = 3  # reduction factor of the halving schedulers


@dataclass
class _Live:
    """The controller's view of one Ray trial."""

    number: int
    started: float
    values: dict[int, float] = field(default_factory=dict)
    checkpoints: dict[int, str] = field(default_factory=dict)
    lineage: list[dict] = field(default_factory=list)
    placement: dict = field(default_factory=dict)
    budget_stopped: str | None = None  # why it stopped at an epoch boundary: the study's budget was spent


def _error_text(ray_trial: Any) -> str:
    """The error Tune wrote for a trial (its local copy exists before Tune's callbacks run)."""
    path = ray_trial.error_file
    try:
        return Path(path).read_text(errors="replace") if path else ""
    except OSError:
        return ""


class RayEngine(Engine):
    name = "ray"

    def __init__(self, run) -> None:
        super().__init__(run)
        self.live: dict[str, _Live] = {}  # Ray trial id -> its record
        self.numbers: dict[str, int] = {}  # Ray trial id -> trial number
        self.lock = threading.RLock()
        self.stopped: StudyStopped | None = None
        self.max_epochs = max_epochs(run.base_spec)
        self.key = f"{os.getpid()}-{id(self)}"

    @classmethod
    @contextmanager
    def session(cls, options: StudyOptions, pool: GpuPool) -> Iterator[None]:
        with ray_session(options.ray_address, pool.gpus, pool.threads * options.parallel):
            yield

    # --- the record --------------------------------------------------------------------------------------

    def configure(self, ray_trial: Any) -> None:
        """When Ray adds a trial: its number and config (from the record's sampler, its record opened);
        after PBT copied another trial's config into it: its own number back."""
        with self.lock:
            number = self.numbers.get(ray_trial.trial_id)
            if number is None:
                number, proposal = self._propose()
                self.numbers[ray_trial.trial_id] = number
                self.live[ray_trial.trial_id] = _Live(number, time.time())
                ray_trial.set_config({**proposal, NUMBER_KEY: number})
            elif ray_trial.config.get(NUMBER_KEY) != number:
                ray_trial.set_config({**ray_trial.config, NUMBER_KEY: number})

    def _propose(self) -> tuple[int, dict]:
        """A trial opened in the record with a config its sampler proposed (a queued one first)."""
        run, record = self.study_run, self.study_run.record
        for _ in range(PROPOSALS):
            trial = record.study.ask()
            queued = trial.user_attrs
            config = run.space.suggest(trial) if run.space else {}
            origin, resume_from = queued.get("origin", "sampler"), queued.get("resume_from")
            problems = spec_problems(run.skill, run.trial_spec(config, trial.number, resume_from))
            if problems:
                run.refuse(trial.number, config, origin, problems[0])
                continue
            record.start(trial.number, TrialStart(folder=folder_of(trial.number), engine=self.name, devices=(),
                                                  threads=run.pool.threads, worker=run.worker),
                         config=config, origin=origin)
            run.show(trial.number, config)
            run.running.add(trial.number)
            record.heartbeat([trial.number])
            proposal = dict(trial.params) | config
            if resume_from:
                proposal[RESUME_KEY] = str(run.results_dir / resume_from)
            return trial.number, proposal
        raise AutomlError(f"{PROPOSALS} proposals in a row had invalid specs ({problems[0]}); the overrides "
                          "make the search space's specs invalid")

    def started(self, ray_trial: Any) -> None:
        live = self.live.get(ray_trial.trial_id)
        if live is None:
            return
        pool = self.study_run.pool
        devices = (f"{pool.per_trial} GPU(s) from Ray",) if pool.gpus else ()
        self.study_run.progress.started(live.number, self.study_run.searched_config(ray_trial.config),
                                        Lease(devices, pool.threads))

    def _place(self, live: _Live, placement: dict) -> None:
        record = self.study_run.record
        if placement.get("pid"):
            record.process(live.number, placement["pid"], placement.get("start_ticks"))
            record.placed(live.number, tuple(placement.get("devices") or ()), placement.get("node"),
                          placement.get("host"))
            live.placement = placement

    def result(self, ray_trial: Any, result: dict) -> None:
        run, live = self.study_run, self.live.get(ray_trial.trial_id)
        metric = run.options.metric
        if live is None or result.get(metric) is None:
            return
        epoch, value = int(result["epoch"]) - 1, float(result[metric])
        with self.lock:
            if not live.placement and result.get("automl_placement"):
                self._place(live, json.loads(result["automl_placement"]))
            live.checkpoints = {int(e): p for e, p in json.loads(result.get("automl_checkpoints") or "{}").items()}
            if epoch not in live.values:
                run.record.epoch(live.number, epoch, value, live.checkpoints)
            live.values[epoch] = value
            if result.get("automl_cloned"):
                donor, at = json.loads(result["automl_cloned"])
                config = run.searched_config(ray_trial.config)
                live.lineage.append({"epoch": at, "from_trial": donor, "config": config})
                run.record.lineage(live.number, live.lineage, config)
                run.progress.message(f"trial {live.number}: continues from trial {donor} at epoch {at} with "
                                     "perturbed values")
        run.progress.epoch(live.number, epoch, value)

    def _end(self, live: _Live, ray_trial: Any, error: bool) -> TrialEnd:
        """The trial's outcome: as its node reported it, else what this controller saw."""
        run = self.study_run
        seen = best_epoch(live.values, run.options.direction)
        saw = TrialEnd(state="FAIL", value=live.values.get(seen) if seen is not None else None, best_epoch=seen,
                       checkpoints=live.checkpoints, wall_seconds=time.time() - live.started,
                       device_seconds=(time.time() - live.started) * max(run.pool.per_trial if run.pool.gpus else 1, 1))
        last = ray_trial.last_result or {}
        if error:
            text = _error_text(ray_trial)
            for line in reversed(text.splitlines()):  # what the trial's node reported, as TrialFailed's message
                if FAILED_MARK in line:
                    reported = json.loads(line.split(FAILED_MARK, 1)[1])
                    if not live.placement:
                        self._place(live, reported["placement"])
                    return TrialEnd.of_json(reported["end"])
            lines = [line for line in text.splitlines() if line.strip()]
            return replace(saw, failure=lines[-1][:300] if lines else "the trial raised an error")
        if self.stopping:
            return replace(saw, failure="interrupted: the study was stopped", interrupted=True)
        if last.get("automl_end"):
            return TrialEnd.of_json(json.loads(last["automl_end"]))
        if last.get("finished") or int(last.get("epoch", 0)) >= self.max_epochs:  # restored after its last epoch
            return replace(saw, state="COMPLETE") if saw.value is not None else \
                replace(saw, failure=f"no {run.options.metric} reported")
        if live.budget_stopped and saw.value is not None:  # a result at its epochs so far, checkpoints kept
            return replace(saw, state="COMPLETE", stopped_early=live.budget_stopped)
        return replace(saw, state="PRUNED", value=None)  # a scheduler stopped it before its last epoch

    def over_budget(self, trial_id: str, result: dict) -> bool:
        """Stop this trial after this result (an epoch boundary): the study's budget is spent."""
        live = self.live.get(trial_id)
        if live is None or not self.study_run.over_budget():  # spent now, not "one more trial would not fit"
            return False
        live.budget_stopped = f"stopped by the study's budget after epoch {int(result.get('epoch', 0)) - 1}"
        return True

    def finished(self, ray_trial: Any, error: bool) -> None:
        run, live = self.study_run, self.live.pop(ray_trial.trial_id, None)
        if live is None:
            return
        with self.lock:
            end = self._end(live, ray_trial, error)
            if end.state == "PRUNED" or end.interrupted or live.budget_stopped:
                self._stop_process(live)
            run.close(live.number, end, retention=False)  # a paused or exploited trial may need any checkpoint
        try:
            run.check_early_failures()
        except StudyStopped as stop:
            self.stopped = stop

    def _stop_process(self, live: _Live) -> None:
        """A trial Ray stopped keeps no process: its actor may be kept for the next trial without being
        told, so its node's trial server stops it."""
        if not live.placement.get("pid"):
            return
        try:
            server = ray.get_actor(server_name(live.placement["node"]))
        except ValueError:  # started without a server: its actor stops it when reused or at the end
            return
        server.stop.remote(live.placement["pid"], GRACE_S)

    @property
    def stopping(self) -> bool:
        return self.study_run.stop.is_set() or self.stopped is not None

    # --- Ray's side ----------------------------------------------------------------------------------------

    def _scheduler(self) -> Any:
        name = self.study_run.options.algorithm if self.study_run.space is not None else "random"
        if name in ("asha", *HYPERBAND):  # asynchronous: never pauses a trial waiting for others
            brackets = 1 if name == "asha" else int(math.log(self.max_epochs) / math.log(ETA) + 1e-9) + 1
            return RecordedASHA(self.key, seed=self.study_run.options.seed, time_attr="epoch",
                                max_t=self.max_epochs, grace_period=1, reduction_factor=ETA, brackets=brackets)
        if name == "pbt":
            return recorded_pbt(self.key, self.study_run.space, self.max_epochs)
        return RecordedFIFO(self.key)

    def _start_servers(self) -> list[Any]:
        """One trial server per alive node with CPUs, owned by this controller (they end with it)."""
        remote = ray.remote(num_cpus=0, max_concurrency=32)(TrialServer)
        servers = [remote.options(name=server_name(node["NodeID"]), scheduling_strategy=NodeAffinitySchedulingStrategy(
            node["NodeID"], soft=False)).remote() for node in ray.nodes()
            if node.get("Alive") and node.get("Resources", {}).get("CPU")]
        ray.get([server.ready.remote() for server in servers], timeout=SERVER_READY_S)
        return servers

    def run(self) -> None:
        """Ray reuses a finished trial's actor for the next one (no new process, no imports paid again),
        except under PBT, whose pauses need each paused actor stopped."""
        run, options = self.study_run, self.study_run.options
        trials = run.trials()
        remaining = options.max_trials - len(run.record.counted(trials))
        if remaining <= 0:
            return
        if run.space is not None and options.algorithm == "grid":
            remaining = min(remaining, sum(t.state == "WAITING" for t in trials) + grid_size(run.space))
        ACTIVE[self.key] = self
        os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the legacy reporter honours verbose=0
        servers = self._start_servers()
        try:
            # placeholders, added as slots free: each gets its config when added (``configure``)
            search = BudgetedVariants(self.key, max_concurrent=options.parallel)
            context = TrialContext(self.command, str(run.results_dir), run.base_spec, run.space, options.metric,
                                   options.direction, options.trial_timeout, options.retries, run.pool.threads,
                                   self.max_epochs, run.pool.per_trial if run.pool.gpus else 1)
            resources = {"cpu": run.pool.threads, "gpu": run.pool.per_trial if run.pool.gpus else 0}
            trainable = tune.with_resources(tune.with_parameters(TrialActor, context=context), resources)
            tuner = tune.Tuner(
                trainable, param_space={},
                tune_config=tune.TuneConfig(metric=options.metric, mode="max" if options.direction == "maximize"
                                            else "min", search_alg=search, scheduler=self._scheduler(),
                                            num_samples=remaining, reuse_actors=options.algorithm != "pbt"),
                run_config=tune.RunConfig(name="ray", storage_path=str(run.results_dir), verbose=0,
                                          callbacks=[Recorder(self.key)], stop=EngineStop(self.key),
                                          failure_config=tune.FailureConfig(max_failures=0),
                                          checkpoint_config=tune.CheckpointConfig(num_to_keep=None)),
            )
            with run.liveness():
                tuner.fit()
        finally:
            ACTIVE.pop(self.key, None)
            for server in servers:
                ray.kill(server)
        for live in list(self.live.values()):  # trials Ray never closed (the study was stopped)
            run.close(live.number, TrialEnd(state="FAIL", failure="interrupted: the study was stopped",
                                            interrupted=True, checkpoints=live.checkpoints), retention=False)
        self.live.clear()
        run.apply_retention()  # only now can no pause, promotion or exploit need a checkpoint
        if self.stopped is not None:
            raise self.stopped

