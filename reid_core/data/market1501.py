"""Market-1501 folders: file names to (identity, camera), training relabelling, validation carving.

Names look like ``0002_c1s1_000451_03.jpg``: identity 2, camera 1. The sign is kept:
``-1_c1s1_...`` is junk (ignored by evaluation), never identity 1; identity 0 is a distractor
(a wrong match for every query). Neither junk nor distractors are training identities.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from reid_core.data.archives import IMAGE_SUFFIXES
from reid_core.errors import DatasetError

NAME_PATTERN = re.compile(r"^(-?\d+)_c(\d+)")
JUNK_PID = -1
DISTRACTOR_PID = 0


@dataclass(frozen=True)
class ImageRecord:
    path: str
    pid: int  # identity as written in the file name (-1 junk, 0 distractor)
    camid: int  # 0-based camera index
    label: int = -1  # training class index after relabelling; -1 outside training


@dataclass(frozen=True)
class ScanReport:
    folder: Path
    records: tuple[ImageRecord, ...]
    unreadable: tuple[str, ...]  # files that are not decodable images (skipped)
    unparsable: tuple[str, ...]  # image files whose name is not Market-1501 style (skipped)


def parse_image_name(name: str) -> tuple[int, int] | None:
    """``(pid, camid)`` with 0-based camera, or None when the name is not Market-1501 style."""
    match = NAME_PATTERN.match(name)
    if match is None:
        return None
    pid, camera = int(match.group(1)), int(match.group(2))
    if pid < JUNK_PID or camera < 1:
        return None
    return pid, camera - 1


def _is_readable_image(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.verify()  # header and structure, without decoding every pixel
        return True
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False


def scan_folder(folder: Path, key: str) -> ScanReport:
    """Every image in ``folder`` with its identity and camera; unreadable files are skipped and counted."""
    records: list[ImageRecord] = []
    unreadable: list[str] = []
    unparsable: list[str] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        parsed = parse_image_name(path.name)
        if parsed is None:
            unparsable.append(path.name)
        elif not _is_readable_image(path):
            unreadable.append(path.name)
        else:
            records.append(ImageRecord(str(path), parsed[0], parsed[1]))
    if not records:
        detail = f" ({len(unreadable)} unreadable, {len(unparsable)} with non Market-1501 names)" if unreadable or unparsable else ""
        raise DatasetError(f"{key}: no usable images in {folder}{detail}")
    return ScanReport(folder, tuple(records), tuple(unreadable), tuple(unparsable))


def relabel(records: list[ImageRecord] | tuple[ImageRecord, ...]) -> list[ImageRecord]:
    """Training records of real identities (pid > 0), labelled 0..N-1 in identity order."""
    kept = [r for r in records if r.pid > DISTRACTOR_PID]
    labels = {pid: index for index, pid in enumerate(sorted({r.pid for r in kept}))}
    return [ImageRecord(r.path, r.pid, r.camid, labels[r.pid]) for r in kept]


@dataclass(frozen=True)
class ValidationCarve:
    train: list[ImageRecord]
    query: list[ImageRecord]
    gallery: list[ImageRecord]


def carve_validation(records: list[ImageRecord], fraction: float, seed: int) -> ValidationCarve:
    """Split training identities (disjointly) into train and a validation query/gallery.

    Each carved identity seen by several cameras gives one query image per camera (Market-1501
    style); the rest of its images, and identities seen by a single camera, go to the gallery.
    """
    pids = sorted({r.pid for r in records if r.pid > DISTRACTOR_PID})
    rng = np.random.default_rng(seed)
    count = int(round(fraction * len(pids)))
    if count < 2 or len(pids) - count < 2:
        raise DatasetError(
            f"dataset.val_split: {fraction} of {len(pids)} training identities leaves "
            f"{count} for validation and {len(pids) - count} for training; each needs at least 2"
        )
    carved = set(rng.choice(np.asarray(pids), size=count, replace=False).tolist())
    query: list[ImageRecord] = []
    gallery: list[ImageRecord] = []
    by_pid: dict[int, list[ImageRecord]] = {}
    for record in records:
        if record.pid in carved:
            by_pid.setdefault(record.pid, []).append(record)
    for pid in sorted(by_pid):
        images = by_pid[pid]
        cameras = sorted({r.camid for r in images})
        if len(cameras) < 2:
            gallery.extend(images)
            continue
        picks = set()
        for camid in cameras:
            candidates = [i for i, r in enumerate(images) if r.camid == camid]
            picks.add(candidates[int(rng.integers(len(candidates)))])
        query.extend(images[i] for i in sorted(picks))
        gallery.extend(r for i, r in enumerate(images) if i not in picks)
    if not query:
        raise DatasetError("dataset.val_split: no carved identity is seen by two cameras; cannot build validation queries")
    train = relabel([r for r in records if r.pid not in carved])
    return ValidationCarve(train, query, gallery)


def shared_identities(query: list[ImageRecord], gallery: list[ImageRecord]) -> int:
    """Number of query identities that also appear in the gallery (junk and distractors excluded)."""
    gallery_pids = {r.pid for r in gallery if r.pid > DISTRACTOR_PID}
    return len({r.pid for r in query if r.pid > DISTRACTOR_PID} & gallery_pids)
