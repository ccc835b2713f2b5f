"""How fast this machine trains a spec's model: seconds per training image, from a few steps on
random images of the spec's size (used to estimate a trial's duration before a study)."""

from __future__ import annotations

import time

import torch

from reid_core.config.experiment import ExperimentConfig
from reid_core.losses import ReidLoss, loss_terms
from reid_core.modeling.baseline import ReidBaseline


def training_seconds_per_image(config: ExperimentConfig, steps: int = 3) -> float:
    """The fastest of ``steps`` forward-backward-update steps (after one warm-up), per image."""
    classes = max(config.dataset.num_classes, 2)
    model = ReidBaseline(config, classes).train()
    criterion = ReidLoss(loss_terms(config), classes, model.embedding_dim)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    batch = config.dataset.batch_size
    x = torch.randn(batch, 3, config.model.input_height, config.model.input_width)
    y = torch.arange(batch) % classes
    timings = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        loss, _ = criterion(*model(x, y), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        timings.append(time.perf_counter() - start)
    return min(timings[1:]) / batch
