"""A running study, as one worker sees it: what every engine shares.

- each trial's spec (the base spec with its searched values, its own results dir, the checkpoint
  a re-run resumes from) and the searched config of any engine's values;
- the record: every trial's start, epochs and outcome go through ``studies.record.StudyRecord``
  (``begin``, ``report``, ``end``), whatever engine ran it;
- the budget across workers: which trials count towards ``--max-trials``, whether there is room
  for another one, a trial created past it by a racing worker (``surplus``), and the diagnosis
  that stops a study whose first trials all fail;
- liveness: Optuna's per-trial heartbeats for this worker's running trials, and the failing of
  other workers' stale trials (their re-runs are queued), in one background thread;
- after each trial: checkpoint retention and the dashboard refresh.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from automl.budget import Budget
from automl.errors import StudyStopped
from automl.gpu_pool import GpuPool, Lease
from automl.launcher import TrialOutcome, checkpoints_of, trial_end
from automl.options import StudyOptions
from automl.skill import Skill
from automl.trial_files import TrialFolder, folder_of
from automl.trial_process import start_ticks
from schemas import spec as specs
from search_spaces import SearchSpace, shown_params
from studies.constraints import best_meeting, parse_constraints
from studies.errors import RecordError
from studies.live import refresh_dashboard
from studies.pareto import accuracy_cost_front
from studies.record import StudyRecord
from studies.trial_record import HOST, TrialEnd, TrialRecord, TrialStart, budget_trials

EARLY_FAILURES = 3
IDLE_S = 0.25  # how often an idle worker looks for work again (a read of the record)


def searched_config(space: SearchSpace | None, values: dict[str, Any]) -> dict[str, Any]:
    """The searched values among an engine's values (helper draws and inactive parameters left out)."""
    if space is None:
        return {}
    ctx, out = dict(space.fixed), {}
    for param in space.params:
        if param.is_active(ctx) and param.key in values:
            ctx[param.key] = out[param.key] = values[param.key]
    return out


def worker_id() -> str:
    """``host:pid:start ticks``: this process, unambiguously, on this host."""
    return f"{HOST}:{os.getpid()}:{start_ticks(os.getpid())}"


@dataclass
class StudyRun:
    options: StudyOptions
    skill: Skill
    base_spec: dict
    space: SearchSpace | None
    record: StudyRecord
    pool: GpuPool
    progress: Any
    stop: threading.Event = field(default_factory=threading.Event)
    worker: str = field(default_factory=worker_id)
    running: set[int] = field(default_factory=set)  # this worker's trials

    # --- specs -----------------------------------------------------------------------------------------

    @property
    def results_dir(self) -> Path:
        return Path(self.options.results_dir).resolve()

    def trial_dir(self, number: int) -> Path:
        return self.results_dir / folder_of(number)

    def trial_spec(self, config: dict, number: int, resume_from: str | None = None) -> dict:
        """The base spec with the searched values, the trial's own results dir and, for a re-run, the
        checkpoint it continues from (a path relative to the results dir, or absolute)."""
        spec = self.space.to_spec(config, self.base_spec) if self.space else specs.merge(self.base_spec)
        spec["results_dir"] = str(self.trial_dir(number))
        if resume_from:
            specs.set_value(spec, "train.resume_training_checkpoint_path", str(self.results_dir / resume_from))
        return spec

    def searched_config(self, values: dict[str, Any]) -> dict[str, Any]:
        return searched_config(self.space, values)

    def base_config(self) -> dict | None:
        """The base spec's own values of the searched parameters, if the space can produce them."""
        if self.space is None:
            return None
        config = self.searched_config({**self.space.fixed, **specs.flatten(self.base_spec)})
        return config if not self.space.validate(config) else None

    # --- the record ------------------------------------------------------------------------------------

    def begin(self, number: int, config: dict, origin: str, lease: Lease, engine: str,
              ray_node: str | None = None) -> None:
        """A trial of this worker starts: its place, devices and (first) heartbeat."""
        start = TrialStart(folder=folder_of(number), engine=engine, devices=tuple(lease.devices) or ("cpu",),
                           threads=lease.threads, worker=self.worker, ray_node=ray_node)
        self.record.start(number, start, config=config, origin=origin)
        self.show(number, config)
        self.running.add(number)
        self.record.heartbeat([number])

    def show(self, number: int, config: dict) -> None:
        """Every searched value under its own key in Optuna's params (for Optuna's own tools)."""
        if self.space is not None:
            self.record.show(number, shown_params(self.space, config))

    def report(self, number: int, epoch: int, value: float, trial: Any = None) -> None:
        """A validated epoch: its value and the checkpoints saved so far."""
        self.record.epoch(number, epoch, value, checkpoints_of(self.trial_dir(number), self.results_dir), trial)

    def end(self, number: int, outcome: TrialOutcome, lanes: int, retention: bool = True) -> None:
        """Record a trial's outcome from its folder on this machine (see ``close``)."""
        self.close(number, trial_end(outcome, self.trial_dir(number), self.results_dir, lanes), retention)

    def close(self, number: int, end: TrialEnd, retention: bool = True) -> None:
        """Record the outcome; an interrupted trial's re-run is queued. Then retention and the page."""
        self.running.discard(number)
        if not self.record.finish(number, end):
            self.progress.message(f"trial {number}: failed as stale by another worker meanwhile; its re-run is queued")
            return
        if end.interrupted:
            self.record.rerun(self.record.trial(number))
        self.progress.finished(number, end.state, end.value if end.state != "FAIL" else None, end.failure)
        self.after_trial(retention)

    def refuse(self, number: int, config: dict, origin: str, problem: str) -> None:
        """A trial whose spec is invalid: recorded as FAIL, never launched."""
        self.record.start(number, TrialStart(folder=folder_of(number), engine=self.options.engine, devices=(),
                                             worker=self.worker), config=config, origin=origin)
        self.record.finish(number, TrialEnd(state="FAIL", failure=f"invalid spec: {problem}"))
        self.progress.finished(number, "FAIL", None, f"invalid spec: {problem}")

    # --- the budget (across every worker) ------------------------------------------------------------

    def trials(self) -> list[TrialRecord]:
        return self.record.trials()

    def done(self) -> bool:
        """The study needs nothing more: its budget is spent, or it was stopped."""
        return self.record.is_finished()

    def has_room(self, trials: list[TrialRecord] | None = None) -> bool:
        """Another trial may start: one is waiting (a re-run, a replay) or the budget is not taken, and
        the device-hours and wall clock allow one more (automl.budget; else the budget is marked spent)."""
        trials = self.trials() if trials is None else trials
        if not self.budget_allows_start(trials):
            return False
        budget = budget_trials(trials)
        return any(t.state == "WAITING" for t in budget) or len(budget) < self.options.max_trials

    def budget_allows_start(self, trials: list[TrialRecord] | None = None) -> bool:
        """The device-hours and wall clock allow one more trial (``automl.budget``); the first worker
        to find them spent marks the study's budget spent."""
        if not self.budget.active:
            return True
        spent = self.record.spent() or self.budget.spent(self.trials() if trials is None else trials, ahead=True)
        if spent:
            self.spend(spent, "no further trial starts")
        return not spent

    def spend(self, reason: str, then: str) -> None:
        """Mark the study's budget spent (once, whichever worker or check sees it first)."""
        if not self.record.spent():
            self.record.spend(reason)
            if self.progress is not None:
                self.progress.message(f"budget spent: {reason}; {then}")

    @property
    def budget(self) -> Budget:
        meta = self.record.meta
        return Budget(self.options.budget_hours, self.options.timeout,
                      (meta.started_at if meta and meta.started_at else time.time()), self.options.trial_estimate_s)

    def over_budget(self) -> str | None:
        """Why a running trial stops at this epoch boundary: a budget is spent (across every worker; the
        first to see it marks the study's budget spent)."""
        spent = self.budget.spent(self.trials()) if self.budget.active else None
        if spent:
            self.spend(spent, "running trials stop at their next epoch")
        return spent

    def surplus(self, number: int) -> bool:
        """A trial this worker just created lies past the budget (others took it meanwhile)."""
        before = [t for t in budget_trials(self.trials()) if t.number < number]
        return len(before) >= self.options.max_trials

    def check_early_failures(self) -> None:
        """Stop the study (for every worker) when its first trials all failed."""
        stopped = self.record.stopped()
        if stopped:
            raise StudyStopped(stopped)
        first = sorted(self.record.counted(), key=lambda t: t.number)[:EARLY_FAILURES]
        needed = min(EARLY_FAILURES, self.options.max_trials)
        if len(first) >= needed and all(t.state == "FAIL" for t in first):
            causes = "; ".join(f"#{t.number} {t.failure or 'failed'}" for t in first)
            log = TrialFolder(self.trial_dir(first[0].number)).stderr
            reason = (f"the first {len(first)} trials all failed ({causes}); stopping instead of spending the "
                      f"budget; see {log}")
            self.record.stop(reason)
            raise StudyStopped(reason)

    # --- liveness ----------------------------------------------------------------------------------------

    @contextmanager
    def liveness(self) -> Iterator[None]:
        """Heartbeats for this worker's running trials and the failing of stale ones, in a thread."""
        interval = self.record.meta.heartbeat_s if self.record.heartbeats else None
        if not interval:
            yield
            return
        done = threading.Event()

        def beat() -> None:
            while not done.wait(interval):
                try:
                    self.record.heartbeat(sorted(self.running))
                    self.record.fail_stale()
                except Exception as err:  # a storage hiccup: the next beat tries again
                    self.progress.message(f"heartbeat not recorded: {type(err).__name__}: {err}")

        thread = threading.Thread(target=beat, name="automl-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(timeout=5)

    def wait_for_work(self) -> None:
        time.sleep(IDLE_S)

    # --- after each trial --------------------------------------------------------------------------------

    def after_trial(self, retention: bool = True) -> None:
        """Checkpoint retention, then ``<results>/dashboard.html`` refreshed in the background (spaced
        out; a failure only logs a warning). The refresh after the study's last trial is written
        before this returns, and stops the page reloading itself."""
        if retention:
            self.apply_retention()
        last = self.stop.is_set() or (self.done() and not self.running)
        refresh_dashboard(self.record, live=not last)

    def apply_retention(self) -> None:
        """Delete checkpoints of finished trials on this machine other than the best, the base-spec
        baseline, the front of the metric against latency (the best under any latency bound) and the
        best meeting the launch's constraints; a trial replaced by a re-run keeps them until the re-run
        finished."""
        if self.options.keep_checkpoints:
            return
        trials = self.trials()
        best = self.record.best_trial(trials)
        keep = {best.number if best else None} | {t.number for t in trials if t.origin == "base spec"}
        keep |= {t.number for t in accuracy_cost_front(trials, self.record.metric, self.record.direction)}
        if self.options.constraints:
            try:
                keep.add(best_meeting(trials, parse_constraints(self.options.constraints), self.record.metric,
                                      self.record.direction).number)
            except RecordError:  # none meets them yet
                pass
        waiting = {t.rerun_of for t in trials if t.rerun_of is not None and not t.finished}
        deleted = self.record.deleted()
        # a kept trial's epoch may be another trial's file (a PBT clone restored at its last epoch)
        needed = {(self.results_dir / p).resolve() for t in trials if t.number in keep for p in t.checkpoints.values()}
        for trial in trials:
            if not trial.finished or trial.number in keep | waiting | deleted or trial.interrupted \
                    or trial.host != HOST or trial.folder is None:
                continue
            files = TrialFolder(self.results_dir / trial.folder)
            for path in list(files.checkpoints().values()) + [files.latest]:
                if (path.is_symlink() or path.exists()) and path.resolve() not in needed:
                    path.unlink()
            self.record.mark_deleted(trial.number)
