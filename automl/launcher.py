"""Run one trial: its own child process (``automl.trial_process``), its own devices, its
``status.json`` tailed, and the one retry policy of every engine.

The child is ``<skill train command> -e <trial>/spec.yaml`` (``re_identification train``). While it
runs, each KPI line of ``<trial>/train/status.json`` with the metric is reported; when the report
says prune, the group gets SIGTERM and, after a grace period, SIGKILL. The outcome is COMPLETE
(value = the best validated epoch's metric, by the record's best-epoch rule), PRUNED, or FAIL with
a cause. A failure of the infrastructure (a lost device, a process killed from outside) is retried
in place, ``--retries`` times, resuming from the trial's latest checkpoint (``run_with_retries``).
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from automl.gpu_pool import Lease
from automl.trial_files import TrialFolder, cmc_at, kpis_at, status_lines, status_number
from automl.trial_process import GRACE_S, TrialProcess
from schemas.spec import write_yaml
from studies.trial_record import TrialEnd, best_epoch

POLL_S = 0.2
STOP = "stop"  # what a report callback returns to stop a trial at this epoch as a result (a budget spent)


@dataclass
class TrialOutcome:
    state: str  # COMPLETE, PRUNED, FAIL
    value: float | None = None
    best_epoch: int | None = None
    kpis: dict[int, float] = field(default_factory=dict)  # epoch -> metric
    failure: str | None = None
    infrastructure: bool = False  # a failure worth retrying (lost device, killed from outside)
    interrupted: bool = False  # stopped because the controller is stopping: re-run on resume
    exit_code: int | None = None
    started: float = 0.0  # wall clock
    first_step: float | None = None  # the trainer's STARTED line
    ended: float = 0.0
    attempts: list[str] = field(default_factory=list)  # causes of earlier attempts retried in place
    stopped_early: str | None = None  # stopped at an epoch boundary by the study's budget


class _StatusTail:
    """New complete lines of a status.json that another process appends to."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.partial = path, 0, b""

    def read(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except OSError:
            return []
        self.offset += len(data)
        chunks = (self.partial + data).split(b"\n")
        self.partial = chunks.pop()
        lines = []
        for chunk in chunks:
            try:
                lines.append(json.loads(chunk))
            except json.JSONDecodeError:
                continue
        return lines


def _last_error_line(folder: Path) -> str:
    try:
        lines = [line.strip() for line in TrialFolder(folder).stderr.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [line for line in lines if line and not line.startswith(("INFO:", "WARNING:"))]
    return lines[-1][:300] if lines else ""


INFRASTRUCTURE_MARKS = ("CUDA error: an illegal memory access", "CUDA error: unspecified launch failure",
                        "uncorrectable ECC", "NCCL error", "CUDA driver", "no CUDA-capable device")


def _failure(code: int | None, folder: Path, statuses: list[dict[str, Any]], stopped_by_us: str | None,
             metric: str, kpis: dict[int, float]) -> tuple[str | None, bool]:
    """(cause, infrastructure) of a finished child, or (None, False) when it succeeded."""
    if stopped_by_us:
        return stopped_by_us, False
    error = _last_error_line(folder)
    failure_lines = [s for s in statuses if s.get("status") == "FAILURE"]
    message = failure_lines[-1].get("message", "") if failure_lines else ""
    if code == 0:
        if kpis:
            return None, False
        seen = sorted({k for s in statuses for k in (s.get("kpi") or {})})
        return f"no {metric} reported in status.json (KPIs seen: {', '.join(seen) or 'none'})", False
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        hint = "; out of memory?" if -code == signal.SIGKILL else ""
        return f"killed by {name}{hint}", True
    text = f"{message} {error}"
    if "NaN loss" in text:
        return "NaN loss: " + (error or message), False
    if "out of memory" in text.lower() or "OutOfMemoryError" in text:
        return "out of memory: " + (error or message), False
    infrastructure = any(mark in text for mark in INFRASTRUCTURE_MARKS)
    kind = "invalid spec or data" if code == 2 else f"exit code {code}"
    return f"{kind}: {error or message or 'no error message'}", infrastructure


def run_trial(
    command: list[str],
    folder: Path,
    spec: dict[str, Any],
    lease: Lease,
    metric: str,
    direction: str,
    report: Callable[[int, float], bool],
    on_start: Callable[[int, int | None], None] = lambda pid, ticks: None,
    timeout: float | None = None,
    grace: float = GRACE_S,
    cancelled: Callable[[], bool] = lambda: False,
    skip_existing: bool = False,
    start_process: Callable[..., Any] = TrialProcess,
) -> TrialOutcome:
    """Write the spec, run the child to its end (or until pruned), and say how it went.

    ``report(epoch, value)`` is called for each validated epoch and returns True to prune. With
    ``skip_existing``, lines already in status.json (an earlier run in the same folder) are not read.
    ``start_process(command, env, folder, threads)`` starts the child (``TrialProcess`` on this
    machine; Ray's engine passes one that asks its node's trial server).
    """
    files = TrialFolder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_yaml(spec, files.spec)
    tail = _StatusTail(files.status)
    if skip_existing and tail.path.exists():
        tail.offset = tail.path.stat().st_size
    outcome = TrialOutcome("FAIL", started=time.time())
    child = start_process([part.replace("{config_path}", str(files.spec)) for part in command], lease.env, folder,
                          lease.threads)
    files.write_process(child.pid, child.ticks, os.getpid())
    on_start(child.pid, child.ticks)
    statuses: list[dict[str, Any]] = []
    stopped: str | None = None
    pruned = False

    def take(lines: list[dict[str, Any]], may_prune: bool) -> None:
        nonlocal stopped, pruned
        for line in lines:
            statuses.append(line)
            if line.get("status") == "STARTED" and outcome.first_step is None:
                outcome.first_step = status_number(line.get("timestamp"))
            value = status_number((line.get("kpi") or {}).get(metric))
            if value is None or line.get("epoch") is None or stopped:
                continue
            epoch = int(line["epoch"])
            outcome.kpis[epoch] = value
            verdict = report(epoch, value) if may_prune else False
            if verdict == STOP:
                stopped = outcome.stopped_early = f"stopped by the study's budget after epoch {epoch}"
                child.stop(grace)
            elif verdict:
                stopped, pruned = f"pruned after epoch {epoch}", True
                child.stop(grace)

    try:
        while True:
            code = child.poll()
            take(tail.read(), may_prune=True)
            if code is not None or stopped:
                break
            if timeout and time.time() - outcome.started > timeout:
                stopped = f"timeout after {timeout:g} s"
                child.stop(grace)
                break
            if cancelled():
                stopped, outcome.interrupted = "interrupted: the study was stopped", True
                child.stop(grace)
                break
            time.sleep(POLL_S)
    except BaseException:
        child.stop(grace)
        raise
    take(tail.read(), may_prune=False)  # what the child wrote between the last poll and its exit
    outcome.exit_code = child.poll()
    outcome.ended = time.time()
    outcome.best_epoch = best_epoch(outcome.kpis, direction)
    if outcome.best_epoch is not None:
        outcome.value = outcome.kpis[outcome.best_epoch]
    if pruned:
        outcome.state = "PRUNED"
        return outcome
    if outcome.stopped_early:  # its epochs so far are a result: COMPLETE, checkpoints kept
        outcome.state = "COMPLETE" if outcome.best_epoch is not None else "FAIL"
        outcome.failure = None if outcome.best_epoch is not None else outcome.stopped_early
        return outcome
    outcome.failure, outcome.infrastructure = _failure(outcome.exit_code, folder, statuses, stopped, metric,
                                                       outcome.kpis)
    outcome.state = "COMPLETE" if outcome.failure is None else "FAIL"
    return outcome


def should_retry(outcome: TrialOutcome, attempt: int, retries: int) -> bool:
    """The retry policy of every engine: an infrastructure failure, ``retries`` times at most."""
    return outcome.state == "FAIL" and outcome.infrastructure and not outcome.interrupted and attempt <= retries


def run_with_retries(
    command: list[str],
    folder: Path,
    spec_for: Callable[[str | None], dict[str, Any]],
    lease: Lease,
    metric: str,
    direction: str,
    report: Callable[[int, float], bool],
    retries: int,
    resume_from: str | None = None,
    skip_existing: bool = False,
    **run: Any,
) -> TrialOutcome:
    """``run_trial`` until it ends for a reason of its own; a failure the policy retries is run again
    in the same folder from the trial's latest checkpoint (``spec_for(resume_from)`` gives the spec).
    The epochs of every attempt and the causes of the retried ones are in the outcome."""
    attempts: list[str] = []
    kpis: dict[int, float] = {}
    first: TrialOutcome | None = None
    attempt = 1
    while True:
        outcome = run_trial(command, folder, spec_for(resume_from), lease, metric, direction, report,
                            skip_existing=skip_existing or attempt > 1, **run)
        first = first or outcome
        kpis.update(outcome.kpis)
        if not should_retry(outcome, attempt, retries):
            break
        attempts.append(outcome.failure or "failed")
        latest = TrialFolder(folder).latest_checkpoint()
        resume_from = str(latest) if latest is not None else resume_from
        attempt += 1
    outcome.attempts, outcome.kpis = attempts, kpis
    outcome.started, outcome.first_step = first.started, first.first_step
    outcome.best_epoch = best_epoch(kpis, direction)
    if outcome.best_epoch is not None and outcome.state != "FAIL":
        outcome.value = kpis[outcome.best_epoch]
    return outcome


def checkpoints_of(folder: Path, results_dir: Path) -> dict[int, str]:
    """The trial's saved checkpoint of each epoch, relative to the results dir."""
    return {epoch: path.resolve().relative_to(results_dir.resolve()).as_posix()
            for epoch, path in TrialFolder(folder).checkpoints().items()}


def trial_end(outcome: TrialOutcome, folder: Path, results_dir: Path, lanes: int) -> TrialEnd:
    """What the record keeps of an outcome: the best epoch, every checkpoint, the CMC curve at the
    best epoch, the failure and its earlier attempts, and the time on ``lanes`` devices."""
    seconds = max(outcome.ended - outcome.started, 0.0)
    lines = status_lines(TrialFolder(folder))
    cmc = cmc_at(lines, outcome.best_epoch) if outcome.best_epoch is not None else None
    return TrialEnd(
        state=outcome.state, value=outcome.value if outcome.state == "COMPLETE" else None,
        best_epoch=outcome.best_epoch, checkpoints=checkpoints_of(folder, results_dir), cmc=cmc,
        kpis=kpis_at(lines, outcome.best_epoch),
        failure=outcome.failure, attempts=tuple(outcome.attempts), interrupted=outcome.interrupted,
        stopped_early=outcome.stopped_early,
        wall_seconds=seconds, device_seconds=seconds * max(lanes, 1),
        launch_to_first_step=(outcome.first_step - outcome.started) if outcome.first_step else None,
        exit_code=outcome.exit_code)
