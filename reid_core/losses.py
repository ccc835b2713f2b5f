"""ReID losses: batch-hard triplet, label-smoothed cross-entropy, center loss, and their mix.

Which terms are on follows TAO/strong-baseline: ``dataset.sampler`` picks the ID loss
(softmax), the metric loss (triplet) or both (softmax_triplet); ``model.metric_loss_type``
(triplet / center / triplet_center) and ``model.with_center_loss`` pick the metric terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from reid_core.config import ExperimentConfig


def pairwise_distance(features: torch.Tensor) -> torch.Tensor:
    """Euclidean distances (N, N), clamped away from 0 so the square root has a gradient."""
    squared = features.pow(2).sum(1, keepdim=True)
    dist = squared + squared.t() - 2.0 * features @ features.t()
    return dist.clamp(min=1e-12).sqrt()


def batch_hard_triplet_loss(
    features: torch.Tensor, labels: torch.Tensor, margin: float | None, normalize: bool = False
) -> torch.Tensor:
    """Mean over anchors of [d(a, hardest positive) - d(a, hardest negative) + margin]_+.

    ``margin=None`` gives the soft-margin form log(1 + exp(d_ap - d_an)).
    """
    if normalize:
        features = F.normalize(features, dim=1)
    dist = pairwise_distance(features.float())
    same = labels[:, None] == labels[None, :]
    hardest_positive = dist.masked_fill(~same, float("-inf")).max(dim=1).values
    hardest_negative = dist.masked_fill(same, float("inf")).min(dim=1).values
    gap = hardest_positive - hardest_negative
    if margin is None:
        return F.softplus(gap).mean()
    return F.relu(gap + margin).mean()


def label_smoothed_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Cross-entropy against (1 - eps) on the true class + eps spread uniformly over all classes."""
    log_probs = F.log_softmax(logits.float(), dim=1)
    nll = -log_probs.gather(1, labels[:, None]).squeeze(1)
    uniform = -log_probs.mean(dim=1)
    return ((1.0 - epsilon) * nll + epsilon * uniform).mean()


class CenterLoss(nn.Module):
    """Mean squared distance of each feature to its class centre; the centres are parameters.

    The centres get their own SGD optimizer at ``train.optim.center_lr`` (see the module),
    so they really move; the loss weight does not scale their update.
    """

    def __init__(self, num_classes: int, feature_dim: int) -> None:
        super().__init__()
        self.centers = nn.Parameter(torch.randn(num_classes, feature_dim))

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        diff = features.float() - self.centers[labels]
        return diff.pow(2).sum(dim=1).clamp(1e-12, 1e12).mean()


@dataclass(frozen=True)
class LossTerms:
    id_weight: float  # 0 disables the ID loss
    triplet_weight: float
    center_weight: float
    margin: float | None
    triplet_l2: bool
    smoothing: float


def loss_terms(spec: ExperimentConfig) -> LossTerms:
    model, optim = spec.model, spec.train.optim
    sampler = spec.dataset.sampler
    metric = model.metric_loss_type
    use_metric = sampler in ("triplet", "softmax_triplet")
    use_triplet = use_metric and metric in ("triplet", "triplet_center")
    use_center = use_metric and (metric in ("center", "triplet_center") or model.with_center_loss)
    return LossTerms(
        id_weight=model.id_loss_weight if sampler in ("softmax", "softmax_triplet") else 0.0,
        triplet_weight=model.triplet_loss_weight if use_triplet else 0.0,
        center_weight=optim.center_loss_weight if use_center else 0.0,
        margin=None if model.no_margin else optim.triplet_loss_margin,
        triplet_l2=optim.trp_l2,
        smoothing=0.1 if model.label_smooth else 0.0,
    )


class ReidLoss(nn.Module):
    """The weighted sum of the active terms; ``forward`` also returns each term for logging."""

    def __init__(self, terms: LossTerms, num_classes: int, feature_dim: int) -> None:
        super().__init__()
        self.terms = terms
        self.center = CenterLoss(num_classes, feature_dim) if terms.center_weight > 0 else None

    def forward(
        self, logits: torch.Tensor, features: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts: dict[str, torch.Tensor] = {}
        t = self.terms
        total = logits.new_zeros((), dtype=torch.float32)
        if t.id_weight > 0:
            parts["id_loss"] = label_smoothed_cross_entropy(logits, labels, t.smoothing)
            total = total + t.id_weight * parts["id_loss"]
        if t.triplet_weight > 0:
            parts["triplet_loss"] = batch_hard_triplet_loss(features, labels, t.margin, t.triplet_l2)
            total = total + t.triplet_weight * parts["triplet_loss"]
        if self.center is not None:
            parts["center_loss"] = self.center(features, labels)
            total = total + t.center_weight * parts["center_loss"]
        return total, parts
