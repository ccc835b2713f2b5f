"""Embedded synthetic person re-identification dataset in the Market-1501 layout.

``make_dataset(output, preset, seed)`` draws people procedurally with numpy and writes
``bounding_box_train/``, ``query/`` and ``bounding_box_test/`` JPEG folders plus one
deterministic ``.tar.gz`` archive per folder, so the trainer and the AutoML search can run
anywhere without downloading Market-1501.

How a dataset is made:

* Identities.  A person is a combination of discrete attributes drawn from small, shared,
  skewed palettes (top/bottom/shoe colour, skin and hair tone, top pattern, sleeve, trouser
  and hair length, backpack, shoulder bag, hat) plus a continuous body shape.  Many people
  share a top colour or trouser colour; only the combination identifies somebody, and the
  combination is unique within a split.
* Cameras.  Every camera has its own scene (a wide textured background panorama that
  images crop from), illumination (gain, gamma, colour cast, saturation, light falloff)
  and blur habits, so one person looks different from one camera to the next.
* Images.  Each image is one frame of a tracklet: the viewpoint (front, back, left,
  right) mostly follows the tracklet's walking direction, and the pose (box placement,
  scale, stride phase) jitters per frame.  Viewpoint hides or reveals attributes (a chest
  logo only from the front, a backpack from the back or side).  Some images are occluded
  by an object or a passer-by, blurred, downscaled, and all carry sensor noise and JPEG
  artefacts.
* Split.  Train and test identities are disjoint.  Every test identity gives one query per
  camera it was seen by and keeps at least one more image in each of those cameras for the
  gallery (Market protocol).  The gallery also holds distractors (pid 0: people outside the
  test set) and junk (pid -1: bad crops and mostly-background boxes).

Determinism.  Every random draw comes from ``numpy.random.default_rng([seed, purpose,
...])`` keyed by what it is for (a camera, an identity's look, an identity's plan, one
image), so the same preset and seed give byte-identical files and archives, and changing
one count leaves the other people's looks and images untouched (only the pids numbered after
them shift).  Archives have sorted members, zero mtimes and owners, fixed modes and a zero
gzip timestamp because downstream caches key on their hash.  A finished output carries
``synthetic.json``; generating the same preset and seed into it again returns at once,
anything else non-empty is refused.

Where each part lives: ``presets`` (sizes and difficulty), ``streams`` (the keyed random
streams), ``people`` (identities), ``painting`` (a posed person drawn on a canvas), ``cameras``
(scenes, illumination, developing), ``planning`` (the split), ``rendering`` (one image),
``layout`` and ``archives`` (the output folder, its archives and its marker).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

import numpy as np

from reid_core.errors import DatasetError
from reid_core.synthetic.archives import marker, previous_output, write_archive
from reid_core.synthetic.cameras import make_camera
from reid_core.synthetic.layout import ARCHIVE_NAMES, MARKER_NAME, SyntheticDataset, describe
from reid_core.synthetic.people import population
from reid_core.synthetic.planning import plan
from reid_core.synthetic.presets import PRESETS, SyntheticPreset
from reid_core.synthetic.rendering import render
from reid_core.synthetic.streams import Kind

__all__ = ["PRESETS", "SyntheticDataset", "SyntheticPreset", "make_dataset"]


def _generate(staging: Path, preset: SyntheticPreset, seed: int) -> dict[str, int]:
    taken_test: set[tuple[int, ...]] = set()
    people = {
        Kind.TRAIN: population(seed, Kind.TRAIN, preset.train_ids, set()),
        Kind.TEST: population(seed, Kind.TEST, preset.test_ids, taken_test),
        # Distractors must not be doppelgangers of test people, so they share the test key set.
        Kind.DISTRACTOR: population(seed, Kind.DISTRACTOR, preset.distractors, taken_test),
        Kind.JUNK: population(seed, Kind.JUNK, preset.junk, set()),
    }
    cameras = [make_camera(seed, index, preset) for index in range(1, preset.cameras + 1)]
    counts = dict.fromkeys(ARCHIVE_NAMES, 0)
    for folder in ARCHIVE_NAMES:
        (staging / folder).mkdir()
    for shot in plan(seed, preset):
        data = render(shot, people[shot.kind][shot.person], cameras[shot.camera - 1], seed, preset)
        (staging / shot.folder / shot.name).write_bytes(data)
        counts[shot.folder] += 1
    for folder, archive in ARCHIVE_NAMES.items():
        write_archive(staging / folder, staging / archive)
    return counts


def _check_arguments(preset: str, seed: int) -> SyntheticPreset:
    if preset not in PRESETS:
        raise DatasetError(f"unknown synthetic preset {preset!r}; valid presets: {', '.join(sorted(PRESETS))}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DatasetError(f"synthetic dataset seed must be a non-negative integer, got {seed!r}")
    return PRESETS[preset]


def make_dataset(output: str | Path, preset: str = "demo", seed: int = 0) -> SyntheticDataset:
    """Write a synthetic Market-1501-style dataset under ``output`` and describe it.

    ``output`` must be missing, empty, or a finished output of the same preset and seed (then
    nothing is rewritten).  The dataset is built in a hidden sibling folder and renamed into
    place, so an interrupted run never leaves a half-written ``output`` behind.
    """
    settings = _check_arguments(preset, seed)
    seed = int(seed)
    root = Path(output).expanduser().resolve()
    previous = previous_output(root, settings, seed)
    if previous is not None:
        return previous
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = root.parent / f".{root.name}.{secrets.token_hex(4)}.partial"
        staging.mkdir()
    except OSError as err:
        raise DatasetError(f"{root}: cannot create the output directory ({err.strerror})") from None
    try:
        counts = _generate(staging, settings, seed)
        (staging / MARKER_NAME).write_text(json.dumps(marker(settings, seed, counts), indent=2) + "\n")
        try:
            os.replace(staging, root)  # also replaces an empty directory, atomically
        except OSError as err:
            raise DatasetError(f"{root}: cannot move the finished dataset into place ({err.strerror})") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return describe(root, settings, seed, counts)
