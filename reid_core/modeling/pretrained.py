"""Load local pretrained weights into a ReidBaseline; nothing is ever downloaded.

Accepted: a torchvision-format ResNet state dict (``conv1.weight``, ``layer1.0...``, ``fc.*``)
or a ReID model's (``base.*``, ``bottleneck.*``, ``classifier.*``, optionally prefixed by
``model.``/``module.`` or wrapped in a ``state_dict`` key, as TAO's and ours are).
The classifier is never loaded (its classes are another dataset's); tensors whose shapes
differ are skipped and listed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from reid_core.checkpoints import read_weights
from reid_core.errors import CheckpointError
from reid_core.modeling.baseline import ReidBaseline

log = logging.getLogger(__name__)
KEY = "model.pretrained_model_path"


@dataclass(frozen=True)
class PretrainedReport:
    loaded: int
    skipped_shape: tuple[str, ...]
    missing: int


def _plain_state(loaded: dict) -> dict[str, torch.Tensor]:
    state = loaded.get("state_dict", loaded)
    if not isinstance(state, dict):
        raise CheckpointError(f"{KEY}: 'state_dict' is not a mapping of tensors")
    plain = {}
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        for prefix in ("module.", "model."):
            if name.startswith(prefix):
                name = name[len(prefix):]
        plain[name] = value
    return plain


def load_pretrained(model: ReidBaseline, path: str) -> PretrainedReport:
    state = _plain_state(read_weights(path, KEY))
    if any(name.startswith("base.") for name in state):
        candidates = {n: v for n, v in state.items() if not n.startswith("classifier.")}
    else:  # a bare backbone (torchvision layout): everything but its ImageNet classifier
        candidates = {f"base.{n}": v for n, v in state.items() if not n.startswith("fc.")}
    own = model.state_dict()
    matched = {n: v for n, v in candidates.items() if n in own and own[n].shape == v.shape}
    skipped = tuple(sorted(n for n, v in candidates.items() if n in own and own[n].shape != v.shape))
    if not matched:
        raise CheckpointError(f"{KEY}: no tensor of {path} matches the {type(model.base).__name__} backbone")
    model.load_state_dict(matched, strict=False)
    missing = sum(1 for n in own if n not in matched and not n.startswith("classifier."))
    if skipped:
        log.warning("pretrained weights: skipped %d tensors with other shapes: %s", len(skipped), ", ".join(skipped[:8]))
    log.info("pretrained weights: loaded %d tensors from %s (%d model tensors not in the file)", len(matched), path, missing)
    return PretrainedReport(len(matched), skipped, missing)
