"""The embedded engine: Optuna ask/tell in this worker, one thread per running trial.

The controller thread owns the sampler (asks, suggests, tells through the record); each trial runs
in a worker thread that only starts and watches its child process, reports intermediate values and
asks the pruner. Several workers (``automl worker``) on one storage share the study: each asks the
same sampler state from the record, so samplers see every worker's trials (running ones included:
TPE's constant liar, the GP's conditioning).
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import optuna

from automl.engines.base import Engine
from automl.gpu_pool import Lease
from automl.launcher import STOP, TrialOutcome, run_with_retries
from automl.specs import spec_problems


@dataclass
class _Ticket:
    trial: optuna.Trial
    config: dict
    origin: str
    lease: Lease
    resume_from: str | None


class OptunaEngine(Engine):
    name = "optuna"

    def _next(self) -> _Ticket | None:
        """Ask for the next trial; None when it was discarded or refused."""
        run = self.study_run
        trial = run.record.study.ask()
        queued = trial.user_attrs  # a replay or a re-run carries where it comes from
        if "origin" not in queued and run.surplus(trial.number):
            run.record.discard(trial.number)
            return None
        config = run.space.suggest(trial) if run.space else {}
        origin = queued.get("origin", "sampler")
        resume_from = queued.get("resume_from")
        problems = spec_problems(run.skill, run.trial_spec(config, trial.number, resume_from))
        if problems:
            run.refuse(trial.number, config, origin, problems[0])
            return None
        lease = run.pool.acquire()
        run.begin(trial.number, config, origin, lease, self.name)
        run.progress.started(trial.number, config, lease)
        return _Ticket(trial, config, origin, lease, resume_from)

    def _execute(self, ticket: _Ticket) -> TrialOutcome:
        run, trial, options = self.study_run, ticket.trial, self.study_run.options

        def report(epoch: int, value: float) -> bool:
            run.report(trial.number, epoch, value, trial)
            run.progress.epoch(trial.number, epoch, value)
            if run.over_budget():
                return STOP
            return not options.more_objectives and trial.should_prune()  # no pruning on several objectives

        try:
            return run_with_retries(
                self.command, run.trial_dir(trial.number),
                lambda resume_from: run.trial_spec(ticket.config, trial.number, resume_from), ticket.lease,
                options.metric, options.direction, report, options.retries, resume_from=ticket.resume_from,
                on_start=lambda pid, ticks: run.record.process(trial.number, pid, ticks),
                timeout=options.trial_timeout, cancelled=run.stop.is_set)
        finally:
            run.pool.release(ticket.lease)

    def _finish(self, ticket: _Ticket, outcome: TrialOutcome) -> None:
        self.study_run.end(ticket.trial.number, outcome, lanes=len(ticket.lease.devices))

    def run(self) -> None:
        run, options = self.study_run, self.study_run.options
        pending: dict[Future, _Ticket] = {}
        with ThreadPoolExecutor(max_workers=options.parallel, thread_name_prefix="trial") as workers, run.liveness():
            try:
                while True:
                    stopping = run.stop.is_set()  # set: start nothing, let the running trials end interrupted
                    if not stopping and len(pending) < options.parallel and not run.done() and run.has_room():
                        ticket = self._next()
                        if ticket is not None:
                            pending[workers.submit(self._execute, ticket)] = ticket
                        else:
                            run.check_early_failures()
                        continue
                    if not pending:
                        if stopping or run.done():
                            break
                        run.check_early_failures()  # another worker may have stopped the study
                        run.wait_for_work()  # other workers' trials run; one may need a re-run
                        continue
                    done, _ = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                    for future in done:
                        self._finish(pending.pop(future), future.result())
                    if done:
                        run.check_early_failures()
            except BaseException:
                run.stop.set()  # workers stop their children; their trials are recorded as interrupted
                for future in list(pending):
                    try:
                        self._finish(pending.pop(future), future.result())
                    except Exception:  # a trial that cannot be recorded now goes stale and is re-run
                        pass
                raise
