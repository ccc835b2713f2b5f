"""The Ray side of a trial: ``TrialActor``, a class Trainable that Ray places on a node, and
``TrialServer``, one per node, from which that node's trial processes start.

One ``step`` is one validated epoch of the trial's child process (run through
``automl.launcher.run_with_retries`` on the GPUs Ray assigned to the actor). The trial's number is
in its config (``NUMBER_KEY``; the engine puts a PBT clone's own number back before it restarts).
A checkpoint is a pointer to the trial's own ``model_epoch_*.pth`` of the epoch
Ray last saw: pausing (HyperBand), promotion and PBT's exploit resume training from a real
checkpoint without copying weights; a trial restored from another trial's checkpoint says so in
its next result (``cloned_from``), which the engine records as lineage.

Everything the record needs travels in the results (the checkpoints found so far, the node, the
process, and at the end the whole ``TrialEnd``), so the controller never reads a node's disk.
The child process is forked from the node's ``TrialServer`` (torch and Lightning imported once per
node), so a trial starts training about as fast as with the Optuna engine.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray import tune

from automl.gpu_pool import Lease
from automl.launcher import TrialOutcome, checkpoints_of, run_with_retries, trial_end
from automl.study import searched_config
from automl.trial_files import TrialFolder, folder_of
from automl.trial_process import GRACE_S, TrialProcess, warm_up
from schemas import spec as specs
from schemas.spec import HELPER_MARK
from search_spaces import SearchSpace

NUMBER_KEY = f"automl{HELPER_MARK}number"  # helper keys never reach a spec
RESUME_KEY = f"automl{HELPER_MARK}resume_from"
CHECKPOINT_WAIT_S = 120.0
FINISH_WAIT_S = 300.0
SERVER_PREFIX = "automl-trial-server-"


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
    lanes: int  # devices per trial (device-hours)


def server_name(node_id: str) -> str:
    return f"{SERVER_PREFIX}{node_id}"


class TrialServer:
    """A node's fork server (torch and Lightning imported once) and the trial processes it started."""

    def __init__(self) -> None:
        self.processes: dict[int, TrialProcess] = {}
        warm_up()

    def ready(self) -> str:
        return socket.gethostname()

    def start(self, command: list[str], env: dict[str, str], folder: str, threads: int) -> tuple[int, int | None]:
        process = TrialProcess(command, env, Path(folder), threads)
        self.processes[process.pid] = process
        return process.pid, process.ticks

    def poll(self, pid: int) -> int | None:
        return self.processes[pid].poll()

    def stop(self, pid: int, grace: float) -> None:
        self.processes[pid].stop(grace)


class _ServedProcess:
    """A trial process started by this node's ``TrialServer``: pid, ticks, poll() and stop()."""

    def __init__(self, server: Any, command: list[str], env: dict[str, str], folder: Path, threads: int) -> None:
        self.server = server
        self.pid, self.ticks = ray.get(server.start.remote(command, env, str(folder), threads))

    def poll(self) -> int | None:
        return ray.get(self.server.poll.remote(self.pid))

    def stop(self, grace: float) -> None:
        ray.get(self.server.stop.remote(self.pid, grace))


class TrialActor(tune.Trainable):
    """One trial: its child process runs in a thread; ``step`` hands Ray one validated epoch."""

    def setup(self, config: dict, context: TrialContext | None = None) -> None:
        self.ctx = context
        self.placement: dict[str, Any] = {"node": ray.get_runtime_context().get_node_id(),
                                          "host": socket.gethostname()}
        try:
            self.server = ray.get_actor(server_name(self.placement["node"]))
        except ValueError:  # a node that joined after the study started: start processes here
            self.server = None
        self._begin(config)

    def _begin(self, config: dict) -> None:
        """This actor's trial: the one of ``config``."""
        self.number = int(config[NUMBER_KEY])
        self.resume_from: str | None = config.get(RESUME_KEY)
        self.cloned: tuple[int, int] | None = None  # (donor, epoch) when restored from another trial
        self.restored: dict | None = None  # the checkpoint pointer it was restored from
        self.inherited: dict[int, str] = {}  # epochs whose checkpoint is another trial's (PBT's donor)
        self.last_epoch = -1  # the last epoch handed to Ray (or restored from a checkpoint)
        self.last_value: float | None = None
        self.events: queue.Queue = queue.Queue()
        self.cancel = threading.Event()
        self.thread: threading.Thread | None = None
        for key in ("pid", "start_ticks", "devices"):
            self.placement.pop(key, None)

    @property
    def folder(self) -> Path:
        return Path(self.ctx.results_dir) / folder_of(self.number)

    def _lease(self) -> Lease:
        return Lease(tuple(str(g) for g in ray.get_gpu_ids()), self.ctx.threads)

    def _start_process(self, command: list[str], env: dict[str, str], folder: Path, threads: int) -> Any:
        process = _ServedProcess(self.server, command, env, folder, threads) if self.server is not None else \
            TrialProcess(command, env, folder, threads)
        self.placement.update(pid=process.pid, start_ticks=process.ticks, devices=list(self._lease().devices))
        return process

    def _spec(self, resume_from: str | None) -> dict:
        ctx = self.ctx
        values = searched_config(ctx.space, self.config)
        spec = ctx.space.to_spec(values, ctx.base_spec) if ctx.space else specs.merge(ctx.base_spec)
        spec["results_dir"] = str(self.folder)
        if resume_from:
            specs.set_value(spec, "train.resume_training_checkpoint_path", resume_from)
        return spec

    def _on_epoch(self, epoch: int, value: float) -> bool:
        self.events.put(("epoch", epoch, value))
        return False  # Ray's scheduler stops trials through ``cleanup``

    def _work(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            outcome = run_with_retries(self.ctx.command, self.folder, self._spec, self._lease(), self.ctx.metric,
                                       self.ctx.direction, self._on_epoch, self.ctx.retries,
                                       resume_from=self.resume_from, skip_existing=True, timeout=self.ctx.timeout,
                                       cancelled=self.cancel.is_set, start_process=self._start_process)
        except BaseException as err:  # never leave step() waiting
            outcome = TrialOutcome("FAIL", failure=f"launcher error: {type(err).__name__}: {err}",
                                   started=time.time(), ended=time.time())
        self.events.put(("end", outcome))

    def _result(self, epoch: int, value: float | None, **extra: Any) -> dict:
        result = {self.ctx.metric: value, "epoch": epoch + 1, "trial_number": self.number,
                  "automl_checkpoints": json.dumps(self.inherited | checkpoints_of(self.folder,
                                                                                   Path(self.ctx.results_dir))),
                  "automl_placement": json.dumps(self.placement), **extra}
        if self.cloned is not None:
            result["automl_cloned"] = json.dumps(self.cloned)
            self.cloned = None
        return result

    def step(self) -> dict:
        if self.thread is None and self.last_epoch + 1 >= self.ctx.max_epochs:  # restored after its last epoch
            return self._result(self.last_epoch, self.last_value, finished=True, done=True)
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
                return self._result(epoch, value)
            (outcome,) = rest
            end = trial_end(outcome, self.folder, Path(self.ctx.results_dir), self.ctx.lanes)
            end = dataclasses.asdict(dataclasses.replace(end, checkpoints=self.inherited | end.checkpoints))
            if outcome.state != "COMPLETE":
                raise TrialFailed(json.dumps({"end": end, "placement": self.placement}))
            last = max(outcome.kpis) if outcome.kpis else self.last_epoch
            return self._result(last, outcome.kpis.get(last, 0.0), finished=True, done=True,
                                automl_end=json.dumps(end))

    def save_checkpoint(self, checkpoint_dir: str) -> dict:
        """A pointer to this trial's checkpoint of the last epoch Ray saw (the restored one when it has not
        trained since a restore: a PBT clone of another trial's last epoch)."""
        if self.thread is None and self.restored is not None:
            return self.restored
        files = TrialFolder(self.folder)
        deadline = time.monotonic() + CHECKPOINT_WAIT_S
        found = files.checkpoint_of_epoch(self.last_epoch)
        while found is None and time.monotonic() < deadline:
            time.sleep(0.2)
            found = files.checkpoint_of_epoch(self.last_epoch)
        if found is None:
            raise RuntimeError(f"trial {self.number}: no checkpoint of epoch {self.last_epoch} in {files.train}")
        return {"pth": str(found.resolve()), "epoch": self.last_epoch, "value": self.last_value,
                "trial": self.number}

    def load_checkpoint(self, checkpoint: dict) -> None:
        self.restored = dict(checkpoint)
        self.resume_from = checkpoint["pth"]
        self.last_epoch, self.last_value = int(checkpoint["epoch"]), checkpoint["value"]
        if int(checkpoint["trial"]) != self.number:  # PBT's exploit: another trial's weights
            self.cloned = (int(checkpoint["trial"]), self.last_epoch)
            relative = Path(checkpoint["pth"]).relative_to(Path(self.ctx.results_dir).resolve()).as_posix()
            self.inherited = {self.last_epoch: relative}

    def reset_config(self, new_config: dict) -> bool:
        """The next trial in this actor (Tune reuses actors): no new process, no imports paid again."""
        self._end_work()
        self._begin(new_config)
        return True

    def cleanup(self) -> None:
        self._end_work()

    def _end_work(self) -> None:
        """Stop this actor's trial process, if it runs (a trial a scheduler stopped)."""
        if self.thread is not None and self.last_epoch + 1 >= self.ctx.max_epochs:
            self.thread.join(timeout=FINISH_WAIT_S)  # its last epoch was seen: let it write its checkpoint
        self.cancel.set()  # the launcher stops the child's process group
        if self.thread is not None:
            self.thread.join(timeout=GRACE_S + 10)


class TrialFailed(RuntimeError):
    """A trial that ended in FAIL; its message is the JSON of its ``TrialEnd`` and placement."""
