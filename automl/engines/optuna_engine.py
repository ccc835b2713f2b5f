"""The embedded engine: Optuna ask/tell in the controller, one thread per running trial.

The controller thread owns the sampler (asks, suggests, tells); each trial runs in a worker
thread that only starts and watches its child process, reports intermediate values and asks
the pruner. Failed trials are told FAIL (samplers never see them as scores); a trial that
failed for an infrastructure cause is re-enqueued with the same parameters up to
``--retries`` times.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import optuna

from automl.gpu_pool import Lease
from automl.launcher import TrialOutcome, run_trial
from automl.study import StudyRun, spec_problems

TrialState = optuna.trial.TrialState


@dataclass
class _Ticket:
    trial: optuna.Trial
    config: dict
    spec: dict
    lease: Lease
    origin: str
    attempt: int


class OptunaEngine:
    name = "optuna"

    def __init__(self, run: StudyRun) -> None:
        self.run_ = run
        self.command = run.skill.train_command(Path("{config_path}"))

    def _start(self) -> _Ticket | None:
        run = self.run_
        trial = run.study.ask()
        fixed = trial.user_attrs  # an enqueued replay carries where it comes from
        config = run.space.suggest(trial) if run.space else {}
        origin = fixed.get("origin", "sampler")
        spec = run.trial_spec(config, trial.number, fixed.get("resume_from"))
        problems = spec_problems(run.skill, spec)
        if problems:  # never launched
            run.attrs(trial._trial_id, config=config, origin=origin, failure=f"invalid spec: {problems[0]}",
                      results_dir=str(run.trial_dir(trial.number)))
            run.study.tell(trial, state=TrialState.FAIL)
            run.progress.finished(trial.number, "FAIL", None, f"invalid spec: {problems[0]}")
            return None
        lease = run.pool.acquire()
        run.record_start(trial._trial_id, trial.number, config, lease, origin)
        run.progress.started(trial.number, config, lease)
        return _Ticket(trial, config, spec, lease, origin, int(fixed.get("attempt", 1)))

    def _execute(self, ticket: _Ticket) -> TrialOutcome:
        run, trial = self.run_, ticket.trial

        def report(epoch: int, value: float) -> bool:
            trial.report(value, epoch)
            run.progress.epoch(trial.number, epoch, value)
            return trial.should_prune()

        def on_start(pid: int, ticks: int | None) -> None:
            run.attrs(trial._trial_id, pid=pid, start_ticks=ticks)

        try:
            return run_trial(self.command, run.trial_dir(trial.number), ticket.spec, ticket.lease, run.options.metric,
                             run.options.direction, report, on_start, timeout=run.options.trial_timeout,
                             cancelled=run.stop.is_set)
        finally:
            run.pool.release(ticket.lease)

    def _finish(self, ticket: _Ticket, outcome: TrialOutcome) -> None:
        run, trial = self.run_, ticket.trial
        run.record_outcome(trial._trial_id, outcome, ticket.lease)  # a finished trial's attributes are frozen
        retry = outcome.state == "FAIL" and not outcome.interrupted and outcome.infrastructure \
            and ticket.attempt <= run.options.retries
        if outcome.interrupted:
            run.attrs(trial._trial_id, interrupted=True)
        if retry:
            run.attrs(trial._trial_id, superseded_by="retry")
        if outcome.state == "COMPLETE":
            run.study.tell(trial, outcome.value)
        elif outcome.state == "PRUNED":
            run.study.tell(trial, state=TrialState.PRUNED)
        else:
            run.study.tell(trial, state=TrialState.FAIL)
        if retry:
            run.study.enqueue_trial(trial.params, user_attrs={
                "origin": f"retry of {trial.number}", "attempt": ticket.attempt + 1, "retry_of": trial.number})
        run.progress.finished(trial.number, outcome.state, outcome.value, outcome.failure)
        run.after_trial()

    def run(self) -> None:
        run, options = self.run_, self.run_.options
        pending: dict[Future, _Ticket] = {}
        with ThreadPoolExecutor(max_workers=options.parallel, thread_name_prefix="trial") as workers:
            try:
                while True:
                    counted = len(run.counted())
                    room = counted + len(pending) < options.max_trials and len(pending) < options.parallel
                    if room and not run.stop.is_set():
                        ticket = self._start()
                        if ticket is not None:
                            pending[workers.submit(self._execute, ticket)] = ticket
                        else:
                            run.check_early_failures()
                        continue
                    if not pending:
                        break
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
                    except Exception:  # a trial that cannot be recorded now is repaired by `automl resume`
                        pass
                raise
