"""A spec's training data as records (no torch): the training split (folder or archive) scanned,
and the validation query/gallery carved from its identities (``dataset.val_split > 0``) or read
from the query/test folders."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from reid_core.config import ExperimentConfig
from reid_core.data.archives import resolve_dataset_dir
from reid_core.data.market1501 import ImageRecord, carve_validation, relabel, scan_folder, shared_identities
from reid_core.errors import DatasetError

log = logging.getLogger(__name__)


def open_split(value: str, key: str) -> list[ImageRecord]:
    """Records of one dataset path (folder or archive), with a counted warning for skipped files."""
    report = scan_folder(resolve_dataset_dir(value, key), key)
    if report.unreadable:
        log.warning("%s: skipped %d unreadable image(s) in %s (first: %s)", key, len(report.unreadable),
                    report.folder, report.unreadable[0])
    if report.unparsable:
        log.warning("%s: skipped %d image(s) without Market-1501 names in %s (first: %s)", key,
                    len(report.unparsable), report.folder, report.unparsable[0])
    return list(report.records)


def warn_if_disjoint(query: list[ImageRecord], gallery: list[ImageRecord], what: str) -> bool:
    """True when query and gallery share an identity; otherwise warn that rank-1 will be 0."""
    if shared_identities(query, gallery):
        return True
    log.warning("%s: query and gallery share no identity; rank-1 and mAP will be 0", what)
    return False


@dataclass(frozen=True)
class TrainingData:
    train: list[ImageRecord]
    query: list[ImageRecord]
    gallery: list[ImageRecord]
    num_classes: int
    validation_source: str  # "val_split" or "query/test"


def load_training_data(spec: ExperimentConfig) -> TrainingData:
    data = spec.dataset
    scanned = open_split(data.train_dataset_dir, "dataset.train_dataset_dir")
    if data.val_split > 0:
        carve = carve_validation(scanned, data.val_split, max(spec.train.seed, 0))
        train, query, gallery, source = carve.train, carve.query, carve.gallery, "val_split"
    else:
        train = relabel(scanned)
        query = open_split(data.query_dataset_dir, "dataset.query_dataset_dir")
        gallery = open_split(data.test_dataset_dir, "dataset.test_dataset_dir")
        source = "query/test"
    if not train:
        raise DatasetError(f"dataset.train_dataset_dir: no training identity (pid > 0) in {data.train_dataset_dir}")
    num_classes = len({r.label for r in train})
    if num_classes != data.num_classes:
        log.warning("dataset.num_classes=%d but the training data has %d identities; using %d",
                    data.num_classes, num_classes, num_classes)
    warn_if_disjoint(query, gallery, f"validation ({source})")
    return TrainingData(train, query, gallery, num_classes, source)


