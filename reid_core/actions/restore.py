"""A trained model from a checkpoint, for evaluate / inference / export.

The architecture and preprocessing come from the spec stored in the checkpoint (they must
match the weights); the test-time choices ``model.neck_feat`` and ``model.with_flip_feature``
come from the action's spec. A spec that disagrees on the architecture gets a warning
naming the key and both values.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import torch

from reid_core.checkpoints import model_state_dict, read_checkpoint
from reid_core.config import ExperimentConfig, ModelConfig, spec_from_dict
from reid_core.errors import CheckpointError, SpecError
from reid_core.modeling.baseline import ReidBaseline

log = logging.getLogger(__name__)
TEST_TIME_KEYS = ("neck_feat", "with_flip_feature")


@dataclass(frozen=True)
class RestoredModel:
    model: ReidBaseline
    spec: ExperimentConfig  # the action's spec with the checkpoint's architecture and preprocessing
    checkpoint: dict


def restore_model(spec: ExperimentConfig, path: str, key: str, device: torch.device) -> RestoredModel:
    checkpoint = read_checkpoint(path, key)
    try:
        trained = spec_from_dict(checkpoint["reid_spec"])
    except (SpecError, ValueError, TypeError, KeyError) as err:
        raise CheckpointError(f"{key}: {path} holds a spec this version cannot read ({err})") from None
    model_cfg = dataclasses.replace(
        trained.model, **{name: getattr(spec.model, name) for name in TEST_TIME_KEYS}
    )
    for field in dataclasses.fields(ModelConfig):
        mine, theirs = getattr(spec.model, field.name), getattr(trained.model, field.name)
        if field.name not in TEST_TIME_KEYS and mine != theirs and field.name != "pretrained_model_path":
            log.warning("model.%s: the spec says %r but %s was trained with %r; using %r",
                        field.name, mine, path, theirs, theirs)
    dataset = dataclasses.replace(spec.dataset, pixel_mean=list(trained.dataset.pixel_mean),
                                  pixel_std=list(trained.dataset.pixel_std))
    effective = dataclasses.replace(spec, model=model_cfg, dataset=dataset)
    effective = dataclasses.replace(effective, train=dataclasses.replace(
        spec.train, optim=dataclasses.replace(spec.train.optim, cosine_scale=trained.train.optim.cosine_scale,
                                              cosine_margin=trained.train.optim.cosine_margin)))
    model = ReidBaseline(effective, int(checkpoint["reid_num_classes"]))
    try:
        model.load_state_dict(model_state_dict(checkpoint), strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{key}: {path} does not fit its own model ({str(err).splitlines()[0]})") from None
    return RestoredModel(model.to(device).eval(), effective, checkpoint)
