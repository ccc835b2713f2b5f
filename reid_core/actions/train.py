"""``re_identification train``: one training run, TAO's layout under ``<results_dir>/train``.

Everything a user can get wrong (spec, data, checkpoint) is checked before the results
folder is touched. From then on any failure leaves a FAILURE line in status.json.
"""

from __future__ import annotations

import importlib.util
import logging
import random
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

from reid_core.actions.devices import action_dir, training_placement
from reid_core.checkpoints import read_checkpoint
from reid_core.config import ExperimentConfig, dump_spec
from reid_core.data.datamodule import ReidDataModule
from reid_core.data.training_data import load_training_data
from reid_core.engine.callbacks import callbacks_for
from reid_core.engine.module import ReidModule
from reid_core.errors import CheckpointError, SpecError
from reid_core.modeling.pretrained import load_pretrained
from reid_core.status import StatusFile, failures_recorded

log = logging.getLogger(__name__)
RESUME_KEY = "train.resume_training_checkpoint_path"


def _loggers(spec: ExperimentConfig) -> list:
    wandb = spec.wandb
    if not wandb.enable:
        return []
    if importlib.util.find_spec("wandb") is None:
        log.info("wandb.enable is on but the wandb package is not installed; wandb logging is off")
        return []
    from pytorch_lightning.loggers import WandbLogger

    return [WandbLogger(project=wandb.project, entity=wandb.entity or None, group=wandb.group or None,
                        tags=list(wandb.tags), name=wandb.name, id=wandb.run_id or None,
                        save_code=wandb.save_code, reinit=wandb.reinit, sync_tensorboard=wandb.sync_tensorboard)]


def _check_resume(path: str, num_classes: int) -> None:
    checkpoint = read_checkpoint(path, RESUME_KEY)
    stored = int(checkpoint["reid_num_classes"])
    if stored != num_classes:
        raise CheckpointError(
            f"{RESUME_KEY}: {path} has a classifier for {stored} identities but the training data has {num_classes}"
        )


def run_train(spec: ExperimentConfig) -> Path:
    """Train per the validated spec; returns the folder holding status.json and checkpoints."""
    out = Path(spec.train.results_dir).expanduser() if spec.train.results_dir else action_dir(spec, "train")
    seed = spec.train.seed if spec.train.seed >= 0 else random.randrange(2**31 - 1)
    pl.seed_everything(seed, workers=False, verbose=False)
    torch.backends.cudnn.benchmark = spec.train.cudnn.benchmark
    torch.backends.cudnn.deterministic = spec.train.cudnn.deterministic

    data = load_training_data(spec)
    resume = spec.train.resume_training_checkpoint_path
    if resume:
        _check_resume(resume, data.num_classes)
    module = ReidModule(spec, data.num_classes, len(data.query))
    if module.criterion.terms.id_weight == 0 and module.criterion.terms.triplet_weight == 0 and module.criterion.center is None:
        raise SpecError("model.id_loss_weight / model.triplet_loss_weight: every loss term is off; nothing to train")
    if spec.model.pretrained_model_path and not resume:
        load_pretrained(module.model, spec.model.pretrained_model_path)
    datamodule = ReidDataModule(spec, data)
    placement = training_placement(spec)

    out.mkdir(parents=True, exist_ok=True)
    dump_spec(spec, out / "experiment.yaml", "train")
    status = StatusFile(out / "status.json")
    log.info("training %s on %s: %d identities, %d images; validating on %s (%d query, %d gallery); outputs in %s",
             spec.model.backbone, placement.accelerator, data.num_classes, len(data.train),
             data.validation_source, len(data.query), len(data.gallery), out)
    trainer = pl.Trainer(
        accelerator=placement.accelerator,
        devices=placement.devices,
        strategy=placement.strategy,
        num_nodes=spec.train.num_nodes,
        precision=placement.precision,
        max_epochs=spec.train.num_epochs,
        check_val_every_n_epoch=spec.train.validation_interval,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=sys.stderr.isatty(),
        logger=_loggers(spec) or False,
        use_distributed_sampler=False,
        callbacks=callbacks_for(spec, out, status),
        default_root_dir=str(out),
    )
    with failures_recorded(status, lambda: {"epoch": trainer.current_epoch, "max_epoch": spec.train.num_epochs}):
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume or None, weights_only=True)
    return out
