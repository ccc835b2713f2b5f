"""What a spec's training data holds, as a study needs it before its first trial: the images of each
training identity once the validation split is carved, and the validation split's size. The data
is scanned as training scans it (no image decoded, no torch)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from reid_core.config import build_spec
from reid_core.data.training_data import load_training_data


@dataclass(frozen=True)
class TrainingSet:
    identity_images: tuple[int, ...]  # images of each training identity, most first
    validation_queries: int
    validation_gallery: int
    pk_batches: bool  # batches are P identities x K images (else plain batches of images)

    def identities_with(self, images: int) -> int:
        """Training identities with at least ``images`` images."""
        return sum(count >= images for count in self.identity_images)


def describe_training_set(spec: dict[str, Any]) -> TrainingSet:
    """The training set of a train spec (plain containers); a DatasetError/SpecError as training would."""
    config = build_spec([spec], "train")
    quiet = logging.getLogger(load_training_data.__module__)
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the class-count note is training's to give, not the scan's
    try:
        data = load_training_data(config)
    finally:
        quiet.setLevel(level)
    counts = Counter(record.label for record in data.train)
    return TrainingSet(tuple(sorted(counts.values(), reverse=True)), len(data.query), len(data.gallery),
                       config.dataset.sampler != "softmax")
