"""A time-per-trial estimate for ``--dry-run``: a short training-throughput probe of the base
spec's model on this machine, times the images of an epoch, plus validation and start-up."""

from __future__ import annotations

from pathlib import Path

from automl.skill import Skill
from automl.specs import is_our_trainer
from reid_core.config import build_spec

PROBE_STEPS = 3
VALIDATION_SHARE = 0.15  # validation + checkpointing, from the demo study's trials
STARTUP_S = 1.0


def _images(folder: str) -> int:
    path = Path(folder)
    if not path.is_dir():
        return 0
    return sum(1 for p in path.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"))


def estimate_trial_seconds(skill: Skill, spec: dict) -> tuple[float | None, str]:
    """(seconds or None, how it was obtained)."""
    if not is_our_trainer(skill):
        return None, "no estimate for this skill's trainer"
    from reid_core.throughput import training_seconds_per_image  # builds a model: torch, only for --dry-run

    config = build_spec([spec], "train")
    images = _images(config.dataset.train_dataset_dir)
    if not images:
        return None, "the training folder could not be counted (an archive?)"
    per_image = training_seconds_per_image(config, PROBE_STEPS)
    epoch = images * (1 - config.dataset.val_split) * per_image * (1 + VALIDATION_SHARE)
    seconds = epoch * config.train.num_epochs + STARTUP_S
    return seconds, f"{PROBE_STEPS}-step throughput probe on this machine, {images} training images"
