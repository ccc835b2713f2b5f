"""A time-per-trial estimate for ``--dry-run``: a short training-throughput probe of the base
spec's model on this machine, times the images of an epoch, plus validation and start-up."""

from __future__ import annotations

import time
from pathlib import Path

from automl.skill import Skill
from automl.study import is_our_trainer

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
    import torch

    from reid_core.config import build_spec
    from reid_core.losses import ReidLoss, loss_terms
    from reid_core.modeling.baseline import ReidBaseline

    config = build_spec([spec], "train")
    images = _images(config.dataset.train_dataset_dir)
    if not images:
        return None, "the training folder could not be counted (an archive?)"
    classes = max(config.dataset.num_classes, 2)
    model = ReidBaseline(config, classes).train()
    criterion = ReidLoss(loss_terms(config), classes, model.embedding_dim)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    batch = config.dataset.batch_size
    x = torch.randn(batch, 3, config.model.input_height, config.model.input_width)
    y = torch.arange(batch) % classes
    timings = []
    for _ in range(PROBE_STEPS + 1):
        start = time.perf_counter()
        loss, _ = criterion(*model(x, y), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        timings.append(time.perf_counter() - start)
    per_image = min(timings[1:]) / batch
    epoch = images * (1 - config.dataset.val_split) * per_image * (1 + VALIDATION_SHARE)
    seconds = epoch * config.train.num_epochs + STARTUP_S
    return seconds, f"{PROBE_STEPS}-step throughput probe on this machine, {images} training images"
