"""Optimizers and the learning-rate schedule.

Parameter groups follow strong-baseline: biases use ``base_lr * bias_lr_factor`` and
``weight_decay_bias``; with ``large_fc_lr`` the classifier learns at twice the rate. The groups are
fixed by role so optimizer states stay compatible across hyperparameters.
The schedule is a factor of the base rate evaluated at the fractional epoch
(``epoch + batch / batches_in_epoch``), set before every step, so short runs get a smooth warm-up:

- multistep: warm-up over ``warmup_iters`` epochs (TAO counts it in epochs), then x ``gamma``
  at each epoch in ``lr_steps``;
- cosine: warm-up over ``warmup_epochs`` epochs, then cosine decay to 1 % at ``num_epochs``.

Warm-up is linear from ``warmup_factor`` to 1, or ``constant`` at ``warmup_factor``.
"""

from __future__ import annotations

import bisect
import math

import torch
from torch import nn

from reid_core.config import ExperimentConfig

COSINE_FLOOR = 0.01


def lr_factor(spec: ExperimentConfig, epoch: float) -> float:
    """Multiplier of every group's learning rate at fractional epoch ``epoch``."""
    optim = spec.train.optim
    warmup = optim.warmup_iters if optim.lr_scheduler == "multistep" else optim.warmup_epochs
    if epoch < warmup:
        if optim.warmup_method == "constant":
            return optim.warmup_factor
        alpha = epoch / warmup
        return optim.warmup_factor * (1 - alpha) + alpha
    if optim.lr_scheduler == "multistep":
        return optim.gamma ** bisect.bisect_right(list(optim.lr_steps), epoch)
    span = max(spec.train.num_epochs - warmup, 1e-8)
    progress = min((epoch - warmup) / span, 1.0)
    return COSINE_FLOOR + (1 - COSINE_FLOOR) * 0.5 * (1 + math.cos(math.pi * progress))


GROUP_ROLES = ("weights", "biases", "classifier")


def _role(name: str) -> str:
    if name.startswith("classifier."):
        return "classifier"
    return "biases" if name.endswith("bias") else "weights"


def group_rates(spec: ExperimentConfig) -> dict[str, tuple[float, float]]:
    """(learning rate, weight decay) of each parameter group, from the spec."""
    optim = spec.train.optim
    return {
        "weights": (optim.base_lr, optim.weight_decay),
        "biases": (optim.base_lr * optim.bias_lr_factor, optim.weight_decay_bias),
        "classifier": (optim.base_lr * (2 if optim.large_fc_lr else 1), optim.weight_decay),
    }


def parameter_groups(spec: ExperimentConfig, model: nn.Module) -> list[dict]:
    """Groups by role, always the same partition whatever the rates: a checkpoint's optimizer state
    then fits a run with other hyperparameters (a resume with a perturbed learning rate, PBT)."""
    members: dict[str, list[nn.Parameter]] = {role: [] for role in GROUP_ROLES}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            members[_role(name)].append(parameter)
    rates = group_rates(spec)
    return [{"params": members[role], "role": role, "lr": rates[role][0], "initial_lr": rates[role][0],
             "weight_decay": rates[role][1]} for role in GROUP_ROLES if members[role]]


def apply_spec_rates(spec: ExperimentConfig, optimizer: torch.optim.Optimizer) -> None:
    """Set each group's base rate and decay from ``spec`` (after a checkpoint restored old ones)."""
    rates = group_rates(spec)
    for group in optimizer.param_groups:
        if group.get("role") in rates:
            group["initial_lr"], group["weight_decay"] = rates[group["role"]]


def build_optimizer(spec: ExperimentConfig, model: nn.Module) -> torch.optim.Optimizer:
    optim = spec.train.optim
    groups = parameter_groups(spec, model)
    if optim.name == "SGD":
        return torch.optim.SGD(groups, lr=optim.base_lr, momentum=optim.momentum)
    betas = (optim.momentum, 0.999)
    if optim.name == "AdamW":
        return torch.optim.AdamW(groups, lr=optim.base_lr, betas=betas)
    return torch.optim.Adam(groups, lr=optim.base_lr, betas=betas)


def apply_lr_factor(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Set every group's rate to its base rate times ``factor``; the position comes from the
    epoch and batch index, so there is no scheduler state to save or to drift."""
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] * factor
