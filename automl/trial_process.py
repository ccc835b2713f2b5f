"""A trial's process: started, watched and stopped, on this machine.

For this project's own CLI the process is forked from a server process that has already imported
torch and Lightning, so a trial starts training in well under a second instead of paying the
imports (``docs/BENCHMARKS.md``); any other skill's command runs as a plain subprocess. Either way
the child leads its own process group (data-loader workers die with it), its environment carries
``CUDA_VISIBLE_DEVICES`` and thread counts from its lease, and its stdout/stderr go to files. A
process is identified by its pid and start ticks (a reused pid is another process).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

GRACE_S = 10.0
FAST_COMMAND = "re_identification"
_PRELOAD = ["reid_core.cli", "reid_core.actions.train", "reid_core.actions.evaluate", "torch", "pytorch_lightning"]
_forkserver: Any = None


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
    import torch  # preloaded by the fork server: no import cost here

    torch.set_num_threads(threads)
    from reid_core.cli import main  # preloaded too

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


class TrialProcess:
    """A started trial process: a forked CLI or a subprocess; exposes pid, ticks, poll() and stop()."""

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


def _nothing() -> None:
    """A process that only proves the fork server is up."""


def warm_up() -> None:
    """Start the fork server now (it imports torch and Lightning once), not at the first trial."""
    process = _server_context().Process(target=_nothing)
    process.start()
    process.join()
