"""The Ray side of a trial: ``TrialActor``, a class Trainable that Ray places on a node.

One ``step`` is one validated epoch of the trial's child process (started through
``automl.launcher.run_with_retries``, on the GPUs Ray assigned to the actor). A checkpoint is a
pointer to the trial's own ``model_epoch_*.pth`` of the epoch Ray last saw, so pausing
(HyperBand), promotion and PBT's exploit resume training from a real checkpoint without copying
weights around.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ray import tune

from automl.gpu_pool import Lease
from automl.launcher import TrialOutcome, run_with_retries
from automl.study import searched_config
from automl.trial_files import TrialFolder
from automl.trial_process import GRACE_S
from schemas import spec as specs
from schemas.spec import HELPER_MARK
from search_spaces import SearchSpace

NUMBER_KEY = f"automl{HELPER_MARK}number"  # helper keys never reach a spec
RESUME_KEY = f"automl{HELPER_MARK}resume_from"
CHECKPOINT_WAIT_S = 120.0
FINISH_WAIT_S = 300.0


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
        spec = ctx.space.to_spec(values, ctx.base_spec) if ctx.space else specs.merge(ctx.base_spec)
        spec["results_dir"] = str(self.folder)
        if resume_from:
            specs.set_value(spec, "train.resume_training_checkpoint_path", resume_from)
        return spec

    def _on_epoch(self, epoch: int, value: float) -> bool:
        self.events.put(("epoch", epoch, value))
        return False  # Ray's scheduler stops trials through ``cleanup``

    def _work(self) -> None:
        outcome: TrialOutcome | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / "devices.json").write_text(json.dumps(list(self._lease().devices) or ["cpu"]))
            outcome = run_with_retries(self.ctx.command, self.folder, self._spec, self._lease(), self.ctx.metric,
                                       self.ctx.direction, self._on_epoch, self.ctx.retries,
                                       resume_from=self.resume_from, skip_existing=True, timeout=self.ctx.timeout,
                                       cancelled=self.cancel.is_set)
        except BaseException as err:  # never leave step() waiting
            outcome = TrialOutcome("FAIL", failure=f"launcher error: {type(err).__name__}: {err}")
        self.events.put(("end", outcome, len(outcome.attempts) + 1))

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
                      "attempts": outcome.attempts, "restored_from": self.restored_from, "started": outcome.started,
                      "first_step": outcome.first_step, "ended": outcome.ended}
            (self.folder / "outcome.json").write_text(json.dumps(record))
            if outcome.state != "COMPLETE":
                raise RuntimeError(outcome.failure or "the trial failed")
            last = max(outcome.kpis) if outcome.kpis else self.last_epoch
            return {self.ctx.metric: outcome.kpis.get(last, 0.0), "epoch": last + 1, "finished": True,
                    "trial_number": self.number, "done": True}

    def save_checkpoint(self, checkpoint_dir: str) -> dict:
        """A pointer to this trial's checkpoint of the last epoch Ray saw."""
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
