"""The ReID baseline: backbone -> global pooling -> (projection) -> BNNeck -> classifier.

Training returns the ID logits and the pooled feature (the triplet and center losses act on the
feature before the BNNeck, the ID loss after it). At test time ``embed`` returns the embedding
before or after the BNNeck (``model.neck_feat``), averaged with the flipped image's when
``model.with_flip_feature`` is on.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from reid_core.config import ExperimentConfig
from reid_core.modeling.backbones import build_backbone


class GeneralizedMeanPooling(nn.Module):
    """GeM pooling with a learnable exponent (p=3 at start)."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.full((1,), p))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=self.eps).pow(self.p).mean(dim=(2, 3)).pow(1.0 / self.p)


class ArcFaceClassifier(nn.Module):
    """Cosine classifier with an additive angular margin on the true class (training only)."""

    def __init__(self, in_features: int, num_classes: int, scale: float, margin: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.normal_(self.weight, std=0.001)
        self.scale, self.margin = scale, margin

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cosine = F.linear(F.normalize(features), F.normalize(self.weight))
        if labels is None:
            return cosine * self.scale
        theta = torch.acos(cosine.clamp(-1 + 1e-7, 1 - 1e-7))
        target = torch.cos(theta + self.margin)
        # beyond pi - margin the angle would wrap around; fall back to a linear penalty there
        threshold, penalty = math.cos(math.pi - self.margin), math.sin(math.pi - self.margin) * self.margin
        target = torch.where(cosine > threshold, target, cosine - penalty)
        one_hot = F.one_hot(labels, cosine.shape[1]).to(cosine.dtype)
        return (one_hot * target + (1 - one_hot) * cosine) * self.scale


class ReidBaseline(nn.Module):
    def __init__(self, spec: ExperimentConfig, num_classes: int) -> None:
        super().__init__()
        cfg = spec.model
        self.base = build_backbone(cfg.backbone, cfg.last_stride, cfg.input_channels)
        self.pool = GeneralizedMeanPooling() if cfg.gem_pooling else nn.AdaptiveAvgPool2d(1)
        planes = self.base.out_channels
        self.fcneck: nn.Module | None = None
        if cfg.reduce_feat_dim:
            self.fcneck = nn.Linear(planes, cfg.feat_dim, bias=False)
            nn.init.kaiming_normal_(self.fcneck.weight, mode="fan_out")
            planes = cfg.feat_dim
        self.embedding_dim = planes
        self.bottleneck: nn.Module | None = None
        if cfg.neck == "bnneck":
            self.bottleneck = nn.BatchNorm1d(planes)
            self.bottleneck.bias.requires_grad_(False)  # BNNeck: no shift, so the ID loss cannot move the centre
        self.dropout = nn.Dropout(cfg.dropout_rate)
        if cfg.cos_layer:
            self.classifier: nn.Module = ArcFaceClassifier(
                planes, num_classes, spec.train.optim.cosine_scale, spec.train.optim.cosine_margin
            )
        else:
            self.classifier = nn.Linear(planes, num_classes, bias=False)
            nn.init.normal_(self.classifier.weight, std=0.001)
        self.neck_feat = cfg.neck_feat
        self.with_flip_feature = cfg.with_flip_feature
        self.num_classes = num_classes

    def _global_feature(self, images: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(self.base(images)).flatten(1)
        return pooled if self.fcneck is None else self.fcneck(pooled)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Training forward: ``(id_logits, global_feature)``."""
        feature = self._global_feature(images)
        neck = feature if self.bottleneck is None else self.bottleneck(feature)
        neck = self.dropout(neck)
        if isinstance(self.classifier, ArcFaceClassifier):
            return self.classifier(neck, labels), feature
        return self.classifier(neck), feature

    def _embed_once(self, images: torch.Tensor) -> torch.Tensor:
        feature = self._global_feature(images)
        if self.neck_feat == "after" and self.bottleneck is not None:
            return self.bottleneck(feature)
        return feature

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Test-time embedding (N, embedding_dim); call in eval mode."""
        embedding = self._embed_once(images)
        if self.with_flip_feature:
            embedding = (embedding + self._embed_once(images.flip(-1))) / 2
        return embedding


class EmbeddingNetwork(nn.Module):
    """The exported graph: images in, embeddings out."""

    def __init__(self, model: ReidBaseline) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.embed(images)
