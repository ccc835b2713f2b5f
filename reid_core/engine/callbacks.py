"""Lightning callbacks: TAO-named checkpoints and status.json lines.

Order matters and is fixed by ``callbacks_for``: the checkpoint of an epoch is on disk before
the status line announcing that epoch's KPIs, so a reader acting on a KPI (the AutoML
launcher promoting or resuming a trial) always finds the matching checkpoint.
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from reid_core.checkpoints import checkpoint_name, update_latest_link
from reid_core.config import ExperimentConfig
from reid_core.deployment import deployment_cost
from reid_core.modeling.baseline import EmbeddingNetwork
from reid_core.status import RUNNING, STARTED, SUCCESS, StatusFile, describe_failure

log = logging.getLogger(__name__)


class ReidCheckpoint(pl.Callback):
    """Writes ``model_epoch_XXX_step_XXXXX.pth`` every ``checkpoint_interval`` epochs or steps,
    always after the last epoch, atomically, and repoints ``reid_model_latest.pth``."""

    def __init__(self, folder: Path, interval: int, unit: str) -> None:
        self.folder, self.interval, self.unit = folder, interval, unit
        self.last_saved: Path | None = None

    def _save(self, trainer: pl.Trainer) -> None:
        # a step checkpoint taken at the end of an epoch belongs to that epoch
        target = self.folder / checkpoint_name(trainer.current_epoch, trainer.global_step)
        if self.last_saved == target:
            return
        staging = target.with_name(f".{target.name}.tmp")
        trainer.save_checkpoint(staging, weights_only=False)
        if trainer.is_global_zero:
            staging.replace(target)
            update_latest_link(self.folder, target)
        self.last_saved = target

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.unit == "step" and trainer.global_step % self.interval == 0:
            self._save(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        last = trainer.current_epoch + 1 >= trainer.max_epochs
        if last or (self.unit == "epoch" and (trainer.current_epoch + 1) % self.interval == 0):
            self._save(trainer)


class StatusLogger(pl.Callback):
    """STARTED when training starts, one RUNNING line per epoch (train_loss, and the validation KPIs of
    epochs that validated), one with the model's deployment cost (``reid_core.deployment``) after the
    last epoch, SUCCESS at the end. FAILURE lines are written by the train action."""

    def __init__(self, status: StatusFile, max_epochs: int) -> None:
        self.status, self.max_epochs = status, max_epochs
        self._fit_start = self._epoch_start = 0.0
        self._first_epoch = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:  # after a resume restored the epoch
        if trainer.is_global_zero:
            self._fit_start = time.monotonic()
            self._first_epoch = trainer.current_epoch
            self.status.write(STARTED, "Starting Training Loop.", epoch=trainer.current_epoch,
                              max_epoch=self.max_epochs, timestamp=time.time())

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = time.monotonic()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        epoch = trainer.current_epoch
        kpi = {"train_loss": pl_module.epoch_loss} if pl_module.epoch_loss is not None else {}
        if pl_module.validation_kpis and pl_module.validation_kpis[0] == epoch:
            kpi.update(pl_module.validation_kpis[1])
        extra = {"cmc": pl_module.validation_cmc[1]} \
            if pl_module.validation_cmc and pl_module.validation_cmc[0] == epoch else {}
        done = epoch + 1 - self._first_epoch
        per_epoch = (time.monotonic() - self._fit_start) / max(done, 1)
        self.status.write(RUNNING, f"Epoch {epoch} finished.", epoch=epoch, max_epoch=self.max_epochs,
                          time_per_epoch=time.monotonic() - self._epoch_start,
                          eta=per_epoch * (self.max_epochs - epoch - 1), kpi=kpi, **extra)

    def _write_deployment_cost(self, pl_module: pl.LightningModule) -> None:
        """latency_ms, params_m and gflops of the final model, which are those of every epoch's model
        (they do not depend on the weights); a failure here is a WARNING line, never a failed training."""
        epoch = self.max_epochs - 1
        model = pl_module.spec.model
        try:
            network = EmbeddingNetwork(copy.deepcopy(pl_module.model)).cpu().eval()
            cost = deployment_cost(network, (model.input_channels, model.input_height, model.input_width),
                                   pl_module.device)
        except Exception as err:  # whatever the cause: the training before it has succeeded
            log.warning("deployment cost not measured: %s", describe_failure(err))
            self.status.write(RUNNING, f"Deployment cost not measured: {describe_failure(err)}", epoch=epoch,
                              max_epoch=self.max_epochs, verbosity="WARNING")
            return
        self.status.write(RUNNING, f"Deployment cost: {cost.describe()}.", epoch=epoch, max_epoch=self.max_epochs,
                          kpi=cost.kpis(), deployment=cost.measurement())

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            self._write_deployment_cost(pl_module)
            self.status.write(SUCCESS, "Train finished successfully.", epoch=self.max_epochs - 1,
                              max_epoch=self.max_epochs, timestamp=time.time())


def callbacks_for(spec: ExperimentConfig, folder: Path, status: StatusFile) -> list[pl.Callback]:
    train = spec.train
    return [
        ReidCheckpoint(folder, train.checkpoint_interval, train.checkpoint_interval_unit),
        StatusLogger(status, train.num_epochs),
    ]
