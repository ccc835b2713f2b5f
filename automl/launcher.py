"""Run one trial: its own child process, its own devices, its status.json tailed.

The child is ``<skill train command> -e <trial>/spec.yaml`` (``re_identification train``). For
this project's own CLI it is forked from a server process that has already imported torch and
Lightning, so a trial starts training in well under a second instead of paying the imports
(``docs/BENCHMARKS.md``); any other skill's command runs as a plain subprocess. Either way the
child leads its own process group (data-loader workers die with it), its environment carries
``CUDA_VISIBLE_DEVICES`` and thread counts from its lease, and its stdout/stderr go to files.

While it runs, each KPI line of ``<trial>/train/status.json`` with the metric is reported; when
the report says prune, the group gets SIGTERM and, after a grace period, SIGKILL. The outcome is
COMPLETE (value = the best validated epoch's metric), PRUNED, or FAIL with a cause.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from automl.gpu_pool import Lease

POLL_S = 0.2
GRACE_S = 10.0
FAST_COMMAND = "re_identification"
_PRELOAD = ["reid_core.cli", "reid_core.actions.train", "reid_core.actions.evaluate", "torch", "pytorch_lightning"]
_forkserver: Any = None


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


def start_ticks(pid: int) -> int | None:
    """The process start time (Linux clock ticks): with the pid it identifies one process."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def same_process_alive(pid: int, ticks: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return ticks is None or start_ticks(pid) in (None, ticks)


def stop_group(pid: int, grace: float = GRACE_S, alive: Callable[[], bool] | None = None) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after ``grace`` seconds."""
    alive = alive or (lambda: same_process_alive(pid, None))
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not alive():
                return
            time.sleep(0.05)


def _child(argv: list[str], env: dict[str, str], stdout: str, stderr: str, threads: int) -> None:
    """Body of a forked trial: the CLI in a fresh process with the trial's environment."""
    os.setsid()
    os.environ.update(env)
    for fd, path in ((1, stdout), (2, stderr)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(target, fd)
        os.close(target)
    import torch

    torch.set_num_threads(threads)
    from reid_core.cli import main

    code = main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _server_context():
    global _forkserver
    if _forkserver is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        _forkserver = context
    return _forkserver


class _Child:
    """A started trial process: a forked CLI or a subprocess; exposes pid, poll() and stop()."""

    def __init__(self, command: list[str], env: dict[str, str], folder: Path, threads: int) -> None:
        stdout, stderr = folder / "stdout.log", folder / "stderr.log"
        if Path(command[0]).name == FAST_COMMAND:
            self.process: Any = _server_context().Process(
                target=_child, args=(command[1:], env, str(stdout), str(stderr), threads), daemon=False)
            self.process.start()
            self.fast = True
        else:
            with stdout.open("ab") as out, stderr.open("ab") as err:
                self.process = subprocess.Popen(command, stdout=out, stderr=err, env={**os.environ, **env},
                                                start_new_session=True)
            self.fast = False
        self.pid = self.process.pid
        self.ticks = start_ticks(self.pid)

    def poll(self) -> int | None:
        return self.process.exitcode if self.fast else self.process.poll()

    def stop(self, grace: float) -> None:
        stop_group(self.pid, grace, alive=lambda: self.poll() is None)
        if self.fast:
            self.process.join(timeout=5)
        else:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


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


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _last_error_line(folder: Path) -> str:
    try:
        lines = [line.strip() for line in (folder / "stderr.log").read_text(errors="replace").splitlines()]
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
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
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
    train_subdir: str = "train",
    cancelled: Callable[[], bool] = lambda: False,
    skip_existing: bool = False,
) -> TrialOutcome:
    """Write the spec, run the child to its end (or until pruned), and say how it went.

    ``report(epoch, value)`` is called for each validated epoch and returns True to prune. With
    ``skip_existing``, lines already in status.json (an earlier run in the same folder) are not read.
    """
    folder.mkdir(parents=True, exist_ok=True)
    spec_path = folder / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    tail = _StatusTail(folder / train_subdir / "status.json")
    if skip_existing and tail.path.exists():
        tail.offset = tail.path.stat().st_size
    outcome = TrialOutcome("FAIL", started=time.time())
    child = _Child([part.replace("{config_path}", str(spec_path)) for part in command], lease.env, folder,
                   lease.threads)
    (folder / "process.json").write_text(json.dumps({"pid": child.pid, "start_ticks": child.ticks,
                                                     "controller_pid": os.getpid()}))
    on_start(child.pid, child.ticks)
    statuses: list[dict[str, Any]] = []
    stopped: str | None = None
    pruned = False
    better = (lambda a, b: a >= b) if direction == "maximize" else (lambda a, b: a <= b)

    def take(lines: list[dict[str, Any]], may_prune: bool) -> None:
        nonlocal stopped, pruned
        for line in lines:
            statuses.append(line)
            if line.get("status") == "STARTED" and outcome.first_step is None:
                outcome.first_step = _number(line.get("timestamp"))
            value = _number((line.get("kpi") or {}).get(metric))
            if value is None or line.get("epoch") is None or stopped:
                continue
            epoch = int(line["epoch"])
            outcome.kpis[epoch] = value
            if may_prune and report(epoch, value):
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
    if outcome.kpis:
        best_epoch = None
        for epoch in sorted(outcome.kpis):  # ties go to the later epoch
            if best_epoch is None or better(outcome.kpis[epoch], outcome.kpis[best_epoch]):
                best_epoch = epoch
        outcome.best_epoch, outcome.value = best_epoch, outcome.kpis[best_epoch]
    if pruned:
        outcome.state = "PRUNED"
        return outcome
    outcome.failure, outcome.infrastructure = _failure(outcome.exit_code, folder, statuses, stopped, metric,
                                                       outcome.kpis)
    outcome.state = "COMPLETE" if outcome.failure is None else "FAIL"
    return outcome
