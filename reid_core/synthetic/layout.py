"""Where a synthetic dataset's files go (Market-1501 layout) and the record describing them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reid_core.synthetic.presets import SyntheticPreset

FORMAT_VERSION = 1
MARKER_NAME = "synthetic.json"
TRAIN_DIR = "bounding_box_train"
GALLERY_DIR = "bounding_box_test"
QUERY_DIR = "query"
ARCHIVE_NAMES = {
    TRAIN_DIR: "sample_train.tar.gz",
    GALLERY_DIR: "sample_test.tar.gz",
    QUERY_DIR: "sample_query.tar.gz",
}


@dataclass(frozen=True)
class SyntheticDataset:
    """What ``make_dataset`` wrote; gallery counts include distractors and junk."""

    root: Path
    preset: str
    seed: int
    height: int
    width: int
    cameras: int
    num_train_ids: int
    num_test_ids: int
    num_train_images: int
    num_query_images: int
    num_gallery_images: int
    num_distractors: int
    num_junk: int
    train_dir: Path
    query_dir: Path
    gallery_dir: Path
    train_archive: Path
    query_archive: Path
    gallery_archive: Path


def describe(root: Path, preset: SyntheticPreset, seed: int, counts: dict[str, int]) -> SyntheticDataset:
    return SyntheticDataset(
        root=root, preset=preset.name, seed=seed, height=preset.height, width=preset.width,
        cameras=preset.cameras, num_train_ids=preset.train_ids, num_test_ids=preset.test_ids,
        num_train_images=counts[TRAIN_DIR], num_query_images=counts[QUERY_DIR],
        num_gallery_images=counts[GALLERY_DIR], num_distractors=preset.distractors, num_junk=preset.junk,
        train_dir=root / TRAIN_DIR, query_dir=root / QUERY_DIR, gallery_dir=root / GALLERY_DIR,
        train_archive=root / ARCHIVE_NAMES[TRAIN_DIR], query_archive=root / ARCHIVE_NAMES[QUERY_DIR],
        gallery_archive=root / ARCHIVE_NAMES[GALLERY_DIR],
    )
