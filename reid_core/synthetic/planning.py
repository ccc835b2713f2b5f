"""The split plan: which images each person gets, in which camera and folder, under which name."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from reid_core.data.market1501 import DISTRACTOR_PID, JUNK_PID
from reid_core.synthetic.layout import GALLERY_DIR, QUERY_DIR, TRAIN_DIR
from reid_core.synthetic.people import VIEWS
from reid_core.synthetic.presets import SyntheticPreset
from reid_core.synthetic.streams import Kind, Purpose, stream


@dataclass(frozen=True)
class Shot:
    """One image to render: who, which camera, which frame, and where it goes."""

    folder: str
    pid: int
    camera: int  # 1-based, as in file names
    frame: int
    kind: Kind
    person: int  # index within its kind
    number: int  # image index for that person; keys its render stream
    view: int  # the tracklet's walking direction, index into VIEWS
    slot: int = 0  # the ``_kk`` detection index that keeps names unique

    @property
    def name(self) -> str:
        pid = f"{self.pid:04d}" if self.pid >= 0 else str(self.pid)
        return f"{pid}_c{self.camera}s1_{self.frame:06d}_{self.slot:02d}.jpg"


def _plan_identity(seed: int, preset: SyntheticPreset, kind: Kind, index: int, pid: int) -> list[Shot]:
    """Tracklets in several cameras; a test identity gives one query per camera it appears in."""
    rng = stream(seed, Purpose.PLAN, kind, index)
    test = kind == Kind.TEST
    lo, hi = preset.cameras_per_id
    n_cams = int(rng.integers(lo, hi + 1))
    cams = np.sort(rng.choice(preset.cameras, n_cams, replace=False)) + 1
    floor = 2 if test else 1  # a query camera must keep a gallery image for the other queries
    lo, hi = preset.test_images_per_id if test else preset.train_images_per_id
    total = max(int(rng.integers(lo, hi + 1)), floor * n_cams)
    counts = floor + rng.multinomial(total - floor * n_cams, np.full(n_cams, 1.0 / n_cams))
    shots: list[Shot] = []
    for cam, count in zip(cams.tolist(), counts.tolist()):
        frame = int(rng.integers(1, 150_000))
        view = int(rng.integers(len(VIEWS)))
        query = int(rng.integers(count)) if test else -1
        for j in range(count):
            frame += int(rng.integers(4, 40))
            folder = QUERY_DIR if j == query else (GALLERY_DIR if test else TRAIN_DIR)
            shots.append(Shot(folder, pid, cam, frame, kind, index, len(shots), view))
    return shots


def _plan_singles(seed: int, preset: SyntheticPreset, kind: Kind, count: int, pid: int) -> list[Shot]:
    shots = []
    for index in range(count):
        rng = stream(seed, Purpose.PLAN, kind, index)
        camera = int(rng.integers(1, preset.cameras + 1))
        frame = int(rng.integers(1, 200_000))
        shots.append(Shot(GALLERY_DIR, pid, camera, frame, kind, index, 0, int(rng.integers(len(VIEWS)))))
    return shots


def _unique_names(shots: list[Shot]) -> list[Shot]:
    # Two pid-0 (or pid -1) boxes may share a camera and frame: like Market, bump the _kk index.
    used: set[str] = set()
    named = []
    for shot in shots:
        while shot.name in used:
            shot = replace(shot, slot=shot.slot + 1)
        used.add(shot.name)
        named.append(shot)
    return named


def plan(seed: int, preset: SyntheticPreset) -> list[Shot]:
    shots: list[Shot] = []
    for index in range(preset.train_ids):
        shots += _plan_identity(seed, preset, Kind.TRAIN, index, 1 + index)
    for index in range(preset.test_ids):
        shots += _plan_identity(seed, preset, Kind.TEST, index, 1 + preset.train_ids + index)
    shots += _plan_singles(seed, preset, Kind.DISTRACTOR, preset.distractors, DISTRACTOR_PID)
    shots += _plan_singles(seed, preset, Kind.JUNK, preset.junk, JUNK_PID)
    return _unique_names(shots)
