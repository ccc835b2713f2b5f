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
them shift).  Archives have sorted members, zero mtimes
and owners, fixed modes and a zero gzip timestamp because downstream caches key on their
hash.  A finished output carries ``synthetic.json``; generating the same preset and seed
into it again returns at once, anything else non-empty is refused.
"""

from __future__ import annotations

import enum
import gzip
import io
import json
import math
import os
import secrets
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from reid_core.errors import DatasetError

FORMAT_VERSION = 1
MARKER_NAME = "synthetic.json"
JPEG_QUALITY = 92
TRAIN_DIR = "bounding_box_train"
GALLERY_DIR = "bounding_box_test"
QUERY_DIR = "query"
ARCHIVE_NAMES = {
    TRAIN_DIR: "sample_train.tar.gz",
    GALLERY_DIR: "sample_test.tar.gz",
    QUERY_DIR: "sample_query.tar.gz",
}
DISTRACTOR_PID = 0
JUNK_PID = -1
_PASSER_BY_RATE = 0.12  # share of images with a second person in the background


@dataclass(frozen=True)
class SyntheticPreset:
    """Size and difficulty of one synthetic dataset; ranges are inclusive ``(low, high)``."""

    name: str
    height: int
    width: int
    cameras: int
    train_ids: int
    test_ids: int
    cameras_per_id: tuple[int, int]
    train_images_per_id: tuple[int, int]
    test_images_per_id: tuple[int, int]
    distractors: int
    junk: int
    lighting_spread: float  # 0 = every camera lit alike, 1 = strongly different cameras
    clutter: float  # colourfulness and contrast of the background scenes, 0 = flat grey
    view_change_rate: float  # chance a frame leaves its tracklet's walking direction
    occlusion_rate: float
    blur_rate: float
    downscale_rate: float
    noise_level: float  # sensor noise standard deviation, in units of full scale

    def __post_init__(self) -> None:
        low, high = self.cameras_per_id
        if not 2 <= low <= high <= self.cameras:  # train ids need two cameras, queries a second one
            raise ValueError(f"preset {self.name!r}: cameras_per_id {self.cameras_per_id} "
                             f"must lie within [2, {self.cameras}]")


PRESETS: dict[str, SyntheticPreset] = {
    "tiny": SyntheticPreset(
        name="tiny", height=64, width=32, cameras=4, train_ids=16, test_ids=16,
        cameras_per_id=(2, 3), train_images_per_id=(6, 10), test_images_per_id=(7, 10),
        distractors=8, junk=6, lighting_spread=0.3, clutter=0.5, view_change_rate=0.25,
        occlusion_rate=0.15, blur_rate=0.25, downscale_rate=0.2, noise_level=0.025,
    ),
    "demo": SyntheticPreset(
        name="demo", height=128, width=64, cameras=6, train_ids=100, test_ids=100,
        cameras_per_id=(2, 5), train_images_per_id=(12, 16), test_images_per_id=(12, 16),
        distractors=150, junk=100, lighting_spread=0.3, clutter=0.5, view_change_rate=0.25,
        occlusion_rate=0.15, blur_rate=0.25, downscale_rate=0.2, noise_level=0.025,
    ),
    "large": SyntheticPreset(
        name="large", height=128, width=64, cameras=6, train_ids=751, test_ids=750,
        cameras_per_id=(3, 6), train_images_per_id=(12, 23), test_images_per_id=(16, 28),
        distractors=2793, junk=3819, lighting_spread=0.3, clutter=0.5, view_change_rate=0.25,
        occlusion_rate=0.15, blur_rate=0.25, downscale_rate=0.2, noise_level=0.025,
    ),
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


class _Purpose(enum.IntEnum):
    """First key of every random stream, so streams for different purposes never collide."""

    CAMERA = 1
    LOOK = 2
    PLAN = 3
    RENDER = 4


class _Kind(enum.IntEnum):
    """Which population a person belongs to; part of their stream keys."""

    TRAIN = 1
    TEST = 2
    DISTRACTOR = 3
    JUNK = 4


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng([seed, *key])


# --------------------------------------------------------------------------- palettes
# Skewed weights: dark and neutral clothes dominate, as in real footage, so look-alikes abound.

_TOP_COLOURS = np.array([
    (0.08, 0.08, 0.09), (0.86, 0.86, 0.84), (0.48, 0.48, 0.50), (0.12, 0.16, 0.34),
    (0.68, 0.12, 0.12), (0.20, 0.38, 0.72), (0.18, 0.42, 0.24), (0.84, 0.74, 0.20),
    (0.88, 0.56, 0.64), (0.44, 0.30, 0.18), (0.38, 0.20, 0.48), (0.90, 0.48, 0.14),
], dtype=np.float32)
_TOP_WEIGHTS = (1.7, 1.6, 1.4, 1.2, 1.0, 1.0, 0.9, 0.8, 0.8, 0.9, 0.7, 0.6)
_BOTTOM_COLOURS = np.array([
    (0.07, 0.07, 0.08), (0.14, 0.19, 0.33), (0.40, 0.50, 0.66), (0.45, 0.45, 0.47),
    (0.68, 0.60, 0.44), (0.84, 0.84, 0.80), (0.36, 0.25, 0.16),
], dtype=np.float32)
_BOTTOM_WEIGHTS = (1.7, 1.7, 1.2, 1.2, 1.0, 0.8, 0.8)
_SHOE_COLOURS = np.array([
    (0.06, 0.06, 0.06), (0.88, 0.88, 0.88), (0.45, 0.45, 0.45), (0.38, 0.24, 0.12),
    (0.70, 0.12, 0.12), (0.16, 0.28, 0.60),
], dtype=np.float32)
_SHOE_WEIGHTS = (1.7, 1.6, 1.0, 1.0, 0.6, 0.6)
_SKIN_COLOURS = np.array([
    (0.93, 0.78, 0.66), (0.82, 0.63, 0.50), (0.62, 0.44, 0.32), (0.40, 0.27, 0.19),
], dtype=np.float32)
_SKIN_WEIGHTS = (1.0, 1.0, 0.8, 0.6)
_HAIR_COLOURS = np.array([
    (0.05, 0.04, 0.04), (0.20, 0.13, 0.08), (0.40, 0.27, 0.15), (0.80, 0.68, 0.40),
    (0.62, 0.62, 0.62),
], dtype=np.float32)
_HAIR_WEIGHTS = (1.7, 1.4, 1.0, 0.8, 0.6)
_GEAR_COLOURS = np.array([
    (0.08, 0.08, 0.08), (0.42, 0.42, 0.44), (0.14, 0.18, 0.36), (0.62, 0.14, 0.14),
    (0.40, 0.26, 0.14), (0.66, 0.58, 0.42),
], dtype=np.float32)
_GEAR_WEIGHTS = (1.7, 1.0, 1.0, 0.7, 1.0, 0.8)
_PATTERNS = ("solid", "hstripes", "vstripes", "checks", "logo")
_PATTERN_WEIGHTS = (0.45, 0.15, 0.10, 0.10, 0.20)
_VIEWS = ("front", "back", "left", "right")
_WALL_COLOURS = np.array([
    (0.62, 0.60, 0.56), (0.48, 0.50, 0.52), (0.70, 0.66, 0.58), (0.40, 0.36, 0.32),
    (0.56, 0.60, 0.62), (0.32, 0.34, 0.30), (0.58, 0.40, 0.34), (0.26, 0.30, 0.36),
    (0.76, 0.74, 0.70),
], dtype=np.float32)
_FLOOR_COLOURS = np.array([
    (0.42, 0.42, 0.42), (0.56, 0.52, 0.46), (0.30, 0.30, 0.32), (0.50, 0.46, 0.40),
    (0.36, 0.40, 0.34),
], dtype=np.float32)


def _pick(rng: np.random.Generator, weights: tuple[float, ...]) -> int:
    cumulative = np.cumsum(weights)
    return int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))


# --------------------------------------------------------------------------- identities


@dataclass(frozen=True, eq=False)
class _Identity:
    """One person's fixed appearance; ``key`` holds the discrete choices that must be unique."""

    key: tuple[int, ...]
    top: np.ndarray
    accent: np.ndarray  # second colour of a patterned top
    pattern: str
    stripe_period: float  # fraction of body height
    long_sleeves: bool
    long_top: bool
    bottom: np.ndarray
    shorts: bool
    shoes: np.ndarray
    skin: np.ndarray
    hair: np.ndarray
    long_hair: bool
    backpack: np.ndarray | None
    bag: np.ndarray | None
    bag_side: float  # -1 = carried on the person's right, +1 on the left (as seen from the front)
    hat: np.ndarray | None
    stature: float
    build: float
    leg_ratio: float
    head_size: float


def _tint(rng: np.random.Generator, colour: np.ndarray, spread: float = 0.04) -> np.ndarray:
    # Same palette entry, slightly different garment: look-alikes stay close but not equal.
    return np.clip(colour * rng.normal(1.0, spread, 3).astype(np.float32), 0.0, 1.0)


def _optional_gear(rng: np.random.Generator, chance: float) -> int:
    return _pick(rng, _GEAR_WEIGHTS) if rng.random() < chance else -1


def _draw_identity(rng: np.random.Generator) -> _Identity:
    top = _pick(rng, _TOP_WEIGHTS)
    accent = _pick(rng, _TOP_WEIGHTS)
    if accent == top:
        accent = (accent + 1 + int(rng.integers(len(_TOP_WEIGHTS) - 1))) % len(_TOP_WEIGHTS)
    pattern = _pick(rng, _PATTERN_WEIGHTS)
    if _PATTERNS[pattern] == "solid":
        accent = -1
    bottom, shoes = _pick(rng, _BOTTOM_WEIGHTS), _pick(rng, _SHOE_WEIGHTS)
    skin, hair = _pick(rng, _SKIN_WEIGHTS), _pick(rng, _HAIR_WEIGHTS)
    flags = tuple(int(rng.random() < p) for p in (0.5, 0.2, 0.2, 0.3))
    backpack, bag, hat = _optional_gear(rng, 0.3), _optional_gear(rng, 0.2), _optional_gear(rng, 0.12)
    bag_side = -1.0 if rng.random() < 0.5 else 1.0
    key = (top, accent, pattern, bottom, shoes, skin, hair, *flags, backpack, bag, hat)
    return _Identity(
        key=key,
        top=_tint(rng, _TOP_COLOURS[top]),
        accent=_tint(rng, _TOP_COLOURS[max(accent, 0)]),
        pattern=_PATTERNS[pattern],
        stripe_period=float(rng.uniform(0.035, 0.07)),
        long_sleeves=bool(flags[0]),
        long_top=bool(flags[1]),
        bottom=_tint(rng, _BOTTOM_COLOURS[bottom]),
        shorts=bool(flags[2]),
        shoes=_tint(rng, _SHOE_COLOURS[shoes]),
        skin=_tint(rng, _SKIN_COLOURS[skin], 0.03),
        hair=_tint(rng, _HAIR_COLOURS[hair]),
        long_hair=bool(flags[3]),
        backpack=None if backpack < 0 else _tint(rng, _GEAR_COLOURS[backpack]),
        bag=None if bag < 0 else _tint(rng, _GEAR_COLOURS[bag]),
        bag_side=bag_side,
        hat=None if hat < 0 else _tint(rng, _GEAR_COLOURS[hat]),
        stature=float(rng.uniform(0.92, 1.05)),
        build=float(rng.uniform(0.85, 1.15)),
        leg_ratio=float(rng.uniform(0.44, 0.52)),
        head_size=float(rng.uniform(0.9, 1.12)),
    )


def _unique_identity(rng: np.random.Generator, taken: set[tuple[int, ...]]) -> _Identity:
    # Redraw from the same stream until the attribute combination is new to the split.
    while True:
        identity = _draw_identity(rng)
        if identity.key not in taken:
            taken.add(identity.key)
            return identity


def _population(seed: int, kind: _Kind, count: int, taken: set[tuple[int, ...]]) -> list[_Identity]:
    return [_unique_identity(_rng(seed, _Purpose.LOOK, kind, index), taken) for index in range(count)]


# --------------------------------------------------------------------------- painting


Paint = np.ndarray | Callable[[np.ndarray, np.ndarray], np.ndarray]  # a colour, or a texture of (ys, xs)
_Window = tuple[slice, slice]


def _shade(colour: np.ndarray, factor: float) -> np.ndarray:
    return colour * np.float32(factor)


class _Painter:
    """Composites anti-aliased shapes onto a float RGB canvas, touching only each shape's box."""

    def __init__(self, canvas: np.ndarray) -> None:
        self.canvas = canvas
        self.height, self.width = canvas.shape[:2]

    def _region(self, x0: float, y0: float, x1: float, y1: float) -> tuple[_Window, np.ndarray, np.ndarray] | None:
        ix0, iy0 = max(int(math.floor(x0)) - 1, 0), max(int(math.floor(y0)) - 1, 0)
        ix1, iy1 = min(int(math.ceil(x1)) + 1, self.width), min(int(math.ceil(y1)) + 1, self.height)
        if ix0 >= ix1 or iy0 >= iy1:
            return None
        ys = np.arange(iy0, iy1, dtype=np.float32)[:, None] + 0.5
        xs = np.arange(ix0, ix1, dtype=np.float32)[None, :] + 0.5
        return (slice(iy0, iy1), slice(ix0, ix1)), ys, xs

    def _blend(self, window: _Window, ys: np.ndarray, xs: np.ndarray, distance: np.ndarray, paint: Paint) -> None:
        # A one-pixel soft edge is the anti-aliasing; min/max beat np.clip's overhead on small arrays.
        alpha = np.minimum(np.maximum(0.5 - distance, 0.0), 1.0)[..., None]
        colour = paint(ys, xs) if callable(paint) else paint
        region = self.canvas[window]
        region += alpha * (colour - region)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, paint: Paint) -> None:
        found = self._region(cx - rx, cy - ry, cx + rx, cy + ry)
        if found:
            window, ys, xs = found
            radius = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
            self._blend(window, ys, xs, (radius - 1.0) * min(rx, ry), paint)

    def capsule(self, x0: float, y0: float, x1: float, y1: float, r: float, paint: Paint) -> None:
        found = self._region(min(x0, x1) - r, min(y0, y1) - r, max(x0, x1) + r, max(y0, y1) + r)
        if found:
            window, ys, xs = found
            bx, by = x1 - x0, y1 - y0
            dx, dy = xs - x0, ys - y0
            t = np.minimum(np.maximum((dx * bx + dy * by) / max(bx * bx + by * by, 1e-6), 0.0), 1.0)
            self._blend(window, ys, xs, np.hypot(dx - bx * t, dy - by * t) - r, paint)

    def box(self, x0: float, y0: float, x1: float, y1: float, paint: Paint, corner: float = 0.0) -> None:
        found = self._region(x0, y0, x1, y1)
        if found:
            window, ys, xs = found
            hx, hy = (x1 - x0) / 2, (y1 - y0) / 2
            corner = min(corner, hx, hy)
            qx = np.abs(xs - (x0 + hx)) - hx + corner
            qy = np.abs(ys - (y0 + hy)) - hy + corner
            outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
            self._blend(window, ys, xs, outside + np.minimum(np.maximum(qx, qy), 0.0) - corner, paint)


# --------------------------------------------------------------------------- people


@dataclass(frozen=True)
class _Pose:
    """Where and how one person stands in one image."""

    cx: float
    top: float
    size: float  # body height in pixels
    view: str
    phase: float  # stride phase, radians


@dataclass(frozen=True)
class _Body:
    """Pixel landmarks of one posed person."""

    cx: float
    size: float
    facing: float  # -1 left, +1 right, 0 front or back
    half_width: float
    head_cy: float
    head_rx: float
    head_ry: float
    shoulder: float
    hip: float
    ankle: float


def _body(who: _Identity, pose: _Pose) -> _Body:
    u = pose.size
    side = pose.view in ("left", "right")
    head_ry = 0.062 * u * who.head_size
    return _Body(
        cx=pose.cx,
        size=u,
        facing={"left": -1.0, "right": 1.0}.get(pose.view, 0.0),
        half_width=(0.085 if side else 0.14) * u * who.build,
        head_cy=pose.top + head_ry,
        head_rx=head_ry * (0.82 if side else 0.74),
        head_ry=head_ry,
        shoulder=pose.top + 2 * head_ry + 0.02 * u,
        hip=pose.top + u * (1.0 - who.leg_ratio),
        ankle=pose.top + 0.955 * u,
    )


def _top_paint(who: _Identity, b: _Body) -> Paint:
    period = max(who.stripe_period * b.size, 2.0)
    if who.pattern in ("solid", "logo"):
        return who.top
    if who.pattern == "hstripes":
        return lambda ys, xs: np.where((np.floor((ys - b.shoulder) / period) % 2 == 0)[..., None], who.top, who.accent)
    if who.pattern == "vstripes":
        return lambda ys, xs: np.where((np.floor((xs - b.cx) / period) % 2 == 0)[..., None], who.top, who.accent)
    return lambda ys, xs: np.where(
        ((np.floor((ys - b.shoulder) / period) + np.floor((xs - b.cx) / period)) % 2 == 0)[..., None],
        who.top, who.accent,
    )


def _draw_leg(p: _Painter, who: _Identity, b: _Body, hip_x: float, ankle_x: float, shade: float) -> None:
    radius = 0.052 * b.size * min(who.build, 1.1)
    knee = b.hip + 0.5 * (b.ankle - b.hip)
    knee_x = hip_x + 0.5 * (ankle_x - hip_x)
    if who.shorts:
        p.capsule(knee_x, knee, ankle_x, b.ankle, radius * 0.75, _shade(who.skin, shade))
        p.capsule(hip_x, b.hip, knee_x, knee, radius * 1.1, _shade(who.bottom, shade))
    else:
        p.capsule(hip_x, b.hip, ankle_x, b.ankle, radius, _shade(who.bottom, shade))
    toe = 0.025 * b.size * b.facing
    p.ellipse(ankle_x + toe, b.ankle + 0.012 * b.size, 0.04 * b.size, 0.02 * b.size, _shade(who.shoes, shade))


def _draw_legs(p: _Painter, who: _Identity, b: _Body, phase: float) -> None:
    if b.facing:
        stride = 0.11 * b.size * math.sin(phase)
        for ankle_x, shade in ((b.cx - stride, 0.8), (b.cx + stride, 1.0)):  # the far leg is in shadow
            _draw_leg(p, who, b, b.cx, ankle_x, shade)
        return
    spread = 0.55 * b.half_width
    stance = spread + 0.015 * b.size * math.sin(phase)  # seen head-on, a stride only moves the feet a little
    for sign in (-1.0, 1.0):
        _draw_leg(p, who, b, b.cx + sign * spread, b.cx + sign * stance, 1.0)


def _draw_arm(p: _Painter, who: _Identity, b: _Body, shoulder_x: float, hand_x: float, shade: float) -> None:
    radius = 0.037 * b.size * min(who.build, 1.1)
    top_y, hand_y = b.shoulder + 0.03 * b.size, b.hip + 0.03 * b.size
    elbow_x, elbow_y = shoulder_x + 0.45 * (hand_x - shoulder_x), top_y + 0.45 * (hand_y - top_y)
    if who.long_sleeves:
        p.capsule(shoulder_x, top_y, hand_x, hand_y, radius, _shade(who.top, shade))
    else:
        p.capsule(elbow_x, elbow_y, hand_x, hand_y, radius * 0.8, _shade(who.skin, shade))
        p.capsule(shoulder_x, top_y, elbow_x, elbow_y, radius * 1.05, _shade(who.top, shade))
    p.ellipse(hand_x, hand_y + radius, radius * 0.9, radius * 1.1, _shade(who.skin, shade))


def _draw_arms(p: _Painter, who: _Identity, b: _Body, phase: float, far: bool) -> None:
    if b.facing:
        swing = 0.09 * b.size * math.sin(phase)
        hand_x, shade = (b.cx + swing, 0.8) if far else (b.cx - swing, 1.0)
        _draw_arm(p, who, b, b.cx, hand_x, shade)
        return
    reach = b.half_width + 0.028 * b.size
    for sign in (-1.0, 1.0):
        _draw_arm(p, who, b, b.cx + sign * reach, b.cx + sign * (reach + 0.01 * b.size), 1.0)


def _draw_torso(p: _Painter, who: _Identity, b: _Body, view: str) -> None:
    bottom = b.hip + (0.14 if who.long_top else 0.025) * b.size
    p.box(b.cx - b.half_width, b.shoulder, b.cx + b.half_width, bottom, _top_paint(who, b),
          corner=0.35 * b.half_width)
    if who.pattern == "logo" and view == "front":  # a print is only visible from the front
        size = 0.6 * b.half_width
        chest = b.shoulder + 0.1 * b.size
        p.box(b.cx - size / 2, chest, b.cx + size / 2, chest + 0.7 * size, who.accent, corner=0.2 * size)


def _draw_head(p: _Painter, who: _Identity, b: _Body, view: str) -> None:
    rx, ry, cy = b.head_rx, b.head_ry, b.head_cy
    neck = 0.35 * rx
    p.box(b.cx - neck, cy, b.cx + neck, b.shoulder + 0.01 * b.size, _shade(who.skin, 0.9))
    if view == "back":
        p.ellipse(b.cx, cy, rx, ry, who.hair)
    else:
        p.ellipse(b.cx - 0.25 * rx * b.facing, cy - 0.12 * ry, rx * 1.02, ry * 0.95, who.hair)
        p.ellipse(b.cx + 0.18 * rx * b.facing, cy + 0.15 * ry, rx * 0.82, ry * 0.82, who.skin)
    if who.hat is not None:
        p.ellipse(b.cx, cy - 0.35 * ry, rx * 1.05, ry * 0.7, who.hat)
        p.box(b.cx - rx * 1.1 + 0.4 * rx * b.facing, cy - 0.4 * ry, b.cx + rx * 1.1 + 0.4 * rx * b.facing,
              cy - 0.2 * ry, _shade(who.hat, 0.8))


def _draw_long_hair(p: _Painter, who: _Identity, b: _Body) -> None:
    p.box(b.cx - b.head_rx * 1.05, b.head_cy, b.cx + b.head_rx * 1.05, b.shoulder + 0.08 * b.size, who.hair,
          corner=0.5 * b.head_rx)


def _draw_backpack(p: _Painter, who: _Identity, b: _Body, view: str) -> None:
    u, pack = b.size, who.backpack
    if view == "back":
        w = 0.8 * b.half_width
        p.box(b.cx - w, b.shoulder + 0.03 * u, b.cx + w, b.shoulder + 0.25 * u, pack, corner=0.25 * w)
    elif view == "front":  # only the straps show
        for sign in (-1.0, 1.0):
            x = b.cx + sign * 0.55 * b.half_width
            p.box(x - 0.012 * u, b.shoulder, x + 0.012 * u, b.shoulder + 0.16 * u, _shade(pack, 0.8))
    else:
        back = b.cx - b.facing * (b.half_width + 0.045 * u)
        p.box(back - 0.06 * u, b.shoulder + 0.03 * u, back + 0.06 * u, b.shoulder + 0.24 * u, pack,
              corner=0.03 * u)


def _draw_bag(p: _Painter, who: _Identity, b: _Body, view: str) -> None:
    u = b.size
    side = who.bag_side * (-1.0 if view == "back" else 1.0)  # mirrored when seen from behind
    if b.facing:
        bag_x = b.cx + 0.02 * u * side
    else:
        bag_x = b.cx + side * (b.half_width + 0.04 * u)
        p.capsule(b.cx - side * 0.8 * b.half_width, b.shoulder + 0.01 * u, bag_x, b.hip - 0.02 * u,
                  0.01 * u, _shade(who.bag, 0.75))
    p.box(bag_x - 0.055 * u, b.hip - 0.04 * u, bag_x + 0.055 * u, b.hip + 0.07 * u, who.bag, corner=0.015 * u)


def _draw_person(p: _Painter, who: _Identity, pose: _Pose) -> None:
    """Paint one person back to front; the order depends on the viewpoint."""
    b = _body(who, pose)
    view = pose.view
    if b.facing:
        _draw_arms(p, who, b, pose.phase, far=True)
        if who.backpack is not None:
            _draw_backpack(p, who, b, view)
    elif view == "front" and who.long_hair:
        _draw_long_hair(p, who, b)
    _draw_legs(p, who, b, pose.phase)
    _draw_torso(p, who, b, view)
    if who.backpack is not None and view == "front":
        _draw_backpack(p, who, b, view)
    _draw_arms(p, who, b, pose.phase, far=False)
    _draw_head(p, who, b, view)
    if view == "back":
        if who.long_hair:
            _draw_long_hair(p, who, b)
        if who.backpack is not None:
            _draw_backpack(p, who, b, view)
    if who.bag is not None:
        _draw_bag(p, who, b, view)


# --------------------------------------------------------------------------- cameras


@dataclass(frozen=True, eq=False)
class _Camera:
    """One camera's scene and imaging habits."""

    scene: np.ndarray  # wide background panorama, float RGB
    gain: float
    gamma: float
    cast: np.ndarray  # per-channel multiplier
    saturation: float
    blur: float  # baseline blur radius, in pixels of a 128-pixel-high box
    light: np.ndarray  # per-row light falloff, shape (height, 1, 1)
    sensor: np.ndarray  # standard-normal noise twice the box size; images crop their noise from it


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    coarse = rng.random((max(height // cell, 1) + 1, max(width // cell, 1) + 1)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, mode="F").resize((width, height), Image.BILINEAR))


def _neutral(colour: np.ndarray, saturation: float) -> np.ndarray:
    grey = colour.mean()
    return grey + np.float32(saturation) * (colour - grey)


def _scene(rng: np.random.Generator, height: int, width: int, clutter: float) -> np.ndarray:
    """A street panorama 8 boxes wide and 1.25 tall: façades, their doors and windows, a floor.

    Façades come from the palette every camera shares, so the background alone tells little
    about the camera; the camera shows through its lighting instead.  ``clutter`` scales the
    colourfulness and contrast of the scene.
    """
    sh, sw = int(height * 1.25), width * 8
    horizon = rng.uniform(0.35, 0.65) * sh
    floor = _neutral(_tint(rng, _FLOOR_COLOURS[rng.integers(len(_FLOOR_COLOURS))], 0.06), clutter)
    ys = np.arange(sh, dtype=np.float32)[:, None, None]
    depth = np.clip((ys - horizon) / (sh - horizon), 0.0, 1.0)
    scene = np.where(ys < horizon, np.float32(0.5), floor * (0.85 + 0.25 * depth)) * np.ones((1, sw, 1), np.float32)
    painter = _Painter(scene)
    x = -rng.uniform(0.0, 0.5) * width
    while x < sw:
        facade = _neutral(_tint(rng, _WALL_COLOURS[rng.integers(len(_WALL_COLOURS))], 0.1), clutter)
        span = rng.uniform(0.4, 1.6) * width
        painter.box(x, -2, x + span, horizon, facade)
        for _ in range(int(rng.integers(0, 3))):  # doors, windows, signs
            w = rng.uniform(0.15, 0.5) * min(span, width)
            x0, y0 = x + rng.uniform(0.0, max(span - w, 0.0)), rng.uniform(0.0, 0.7) * horizon
            detail = np.clip(facade * (1.0 + clutter * rng.uniform(-0.5, 0.3)), 0.0, 1.0)
            painter.box(x0, y0, x0 + w, min(y0 + rng.uniform(0.2, 1.0) * horizon, horizon), detail)
        x += span
    for _ in range(int(rng.integers(0, 4))):  # kerbs and floor markings
        y = rng.uniform(horizon, sh)
        marking = np.clip(floor * (1.0 + clutter * rng.uniform(-0.4, 0.4)), 0.0, 1.0)
        painter.box(-2, y, sw + 2, y + rng.uniform(0.5, 2.0), marking)
    texture = 1.0 + clutter * rng.uniform(0.1, 0.3) * (_smooth_noise(rng, sh, sw, 6) - 0.5)
    grain = 1.0 + clutter * rng.uniform(0.02, 0.06) * rng.standard_normal((sh, sw, 1)).astype(np.float32)
    return np.clip(scene * texture[..., None] * grain, 0.0, 1.0)


def _make_camera(seed: int, index: int, preset: SyntheticPreset) -> _Camera:
    rng = _rng(seed, _Purpose.CAMERA, index)
    spread = preset.lighting_spread
    cast = rng.normal(1.0, 0.08 * spread, 3).astype(np.float32)
    h, w = preset.height, preset.width
    rows = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None, None]
    return _Camera(
        scene=_scene(rng, preset.height, preset.width, preset.clutter),
        gain=float(np.exp(rng.normal(0.0, 0.22 * spread))),
        gamma=float(np.exp(rng.normal(0.0, 0.18 * spread))),
        cast=cast / cast.mean(),
        saturation=float(np.clip(rng.normal(1.0, 0.2 * spread), 0.5, 1.4)),
        blur=float(rng.uniform(0.0, 0.6)),
        light=1.0 + np.float32(rng.uniform(-0.3, 0.3) * spread) * rows,
        sensor=rng.standard_normal((2 * h, 2 * w, 3), dtype=np.float32),
    )


def _background(camera: _Camera, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    sh, sw = camera.scene.shape[:2]
    x0, y0 = int(rng.integers(0, sw - width + 1)), int(rng.integers(0, sh - height + 1))
    crop = camera.scene[y0:y0 + height, x0:x0 + width]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return crop * np.float32(rng.uniform(0.85, 1.15))  # a fresh array: the painter writes into it


def _develop(image: np.ndarray, camera: _Camera, rng: np.random.Generator, preset: SyntheticPreset) -> bytes:
    """Camera response, blur, downscaling, sensor noise, then JPEG encoding."""
    height, width = image.shape[:2]
    gain = camera.gain * np.exp(rng.normal(0.0, 0.05))
    cast = camera.cast * rng.normal(1.0, 0.02, 3).astype(np.float32) * np.float32(gain * 255.0)
    lit = np.minimum(np.maximum(image, 0.0), 1.0) ** np.float32(camera.gamma) * cast * camera.light
    grey = (lit[..., 0] + lit[..., 1] + lit[..., 2])[..., None] * np.float32(1.0 / 3.0)
    lit = grey + np.float32(camera.saturation) * (lit - grey)
    frame = Image.fromarray(np.clip(lit + 0.5, 0, 255).astype(np.uint8), mode="RGB")
    if rng.random() < preset.downscale_rate:  # a distant person, upscaled by the detector crop
        factor = rng.uniform(0.35, 0.7)
        small = (max(int(width * factor), 4), max(int(height * factor), 8))
        frame = frame.resize(small, Image.BILINEAR).resize((width, height), Image.BILINEAR)
    radius = camera.blur + (rng.uniform(0.4, 1.3) if rng.random() < preset.blur_rate else 0.0)
    if radius > 0.15:
        frame = frame.filter(ImageFilter.GaussianBlur(radius * height / 128.0))
    y0, x0 = int(rng.integers(0, height + 1)), int(rng.integers(0, width + 1))
    sigma = np.float32(preset.noise_level * 255.0 * rng.uniform(0.5, 1.5))
    noise = camera.sensor[y0:y0 + height, x0:x0 + width] * sigma
    pixels = np.clip(np.asarray(frame, dtype=np.float32) + noise + 0.5, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=2)
    return buffer.getvalue()


# --------------------------------------------------------------------------- images


@dataclass(frozen=True)
class _Shot:
    """One image to render: who, which camera, which frame, and where it goes."""

    folder: str
    pid: int
    camera: int  # 1-based, as in file names
    frame: int
    kind: _Kind
    person: int  # index within its kind
    number: int  # image index for that person; keys its render stream
    view: int  # the tracklet's walking direction, index into _VIEWS
    slot: int = 0  # the ``_kk`` detection index that keeps names unique

    @property
    def name(self) -> str:
        pid = f"{self.pid:04d}" if self.pid >= 0 else str(self.pid)
        return f"{pid}_c{self.camera}s1_{self.frame:06d}_{self.slot:02d}.jpg"


def _any_view(rng: np.random.Generator) -> str:
    return _VIEWS[int(rng.integers(len(_VIEWS)))]


def _any_phase(rng: np.random.Generator) -> float:
    return float(rng.uniform(0.0, 2.0 * math.pi))


def _pose(rng: np.random.Generator, who: _Identity, view: int, preset: SyntheticPreset) -> _Pose:
    h, w = preset.height, preset.width
    direction = _any_view(rng) if rng.random() < preset.view_change_rate else _VIEWS[view]
    size = min(rng.uniform(0.84, 0.95) * who.stature, 0.97) * h
    return _Pose(
        cx=w / 2 + rng.normal(0.0, 0.05 * w),
        top=(h - size) * rng.uniform(0.15, 0.85),
        size=size,
        view=direction,
        phase=_any_phase(rng),
    )


def _stranger(p: _Painter, rng: np.random.Generator, preset: SyntheticPreset, offset: tuple[float, float],
              top: tuple[float, float], size: tuple[float, float]) -> None:
    """Paint a random passer-by beside the box centre; ranges are fractions of the box size."""
    h, w = preset.height, preset.width
    side = -1.0 if rng.random() < 0.5 else 1.0
    pose = _Pose(w / 2 + side * rng.uniform(*offset) * w, rng.uniform(*top) * h, rng.uniform(*size) * h,
                 _any_view(rng), _any_phase(rng))
    _draw_person(p, _draw_identity(rng), pose)


def _occlude(p: _Painter, rng: np.random.Generator, preset: SyntheticPreset) -> None:
    """Cover part of the box with an object in front, or with a passer-by."""
    h, w = preset.height, preset.width
    if rng.random() < 0.5:
        _stranger(p, rng, preset, offset=(0.45, 0.75), top=(-0.05, 0.1), size=(0.8, 1.0))
        return
    colour = _tint(rng, _GEAR_COLOURS[int(rng.integers(len(_GEAR_COLOURS)))], 0.3)
    shading = np.linspace(1.15, 0.75, h, dtype=np.float32)[:, None, None]

    def paint(ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        return np.clip(colour * shading[ys.astype(int).ravel()], 0, 1)

    if rng.random() < 0.6:  # a bench, car or railing across the lower body
        p.box(-2, rng.uniform(0.55, 0.8) * h, w + 2, h + 2, paint, corner=0.04 * w)
    else:  # a pillar or pole at one side
        width = rng.uniform(0.2, 0.4) * w
        x0 = -2 if rng.random() < 0.5 else w + 2 - width
        p.box(x0, -2, x0 + width, h + 2, paint)


def _render_person_shot(p: _Painter, who: _Identity, shot: _Shot, rng: np.random.Generator,
                        preset: SyntheticPreset) -> None:
    if rng.random() < _PASSER_BY_RATE:  # somebody further back, partly inside the box
        _stranger(p, rng, preset, offset=(0.5, 0.8), top=(0.0, 0.15), size=(0.7, 0.85))
    _draw_person(p, who, _pose(rng, who, shot.view, preset))
    if rng.random() < preset.occlusion_rate:
        _occlude(p, rng, preset)


def _render_junk(p: _Painter, who: _Identity, rng: np.random.Generator, preset: SyntheticPreset) -> None:
    """A detector failure: a fragment of a person blown up, or a box that mostly misses them."""
    h, w = preset.height, preset.width
    view, phase = _any_view(rng), _any_phase(rng)
    if rng.random() < 0.5:
        size = rng.uniform(1.8, 3.2) * h
        pose = _Pose(w / 2 + rng.normal(0.0, 0.3 * w), -rng.uniform(0.1, 0.75) * size, size, view, phase)
    else:
        side = -1.0 if rng.random() < 0.5 else 1.0
        pose = _Pose(w / 2 + side * rng.uniform(0.6, 1.0) * w, rng.uniform(-0.3, 0.3) * h,
                     rng.uniform(0.6, 1.0) * h, view, phase)
    _draw_person(p, who, pose)


def _render(shot: _Shot, who: _Identity, camera: _Camera, seed: int, preset: SyntheticPreset) -> bytes:
    rng = _rng(seed, _Purpose.RENDER, shot.kind, shot.person, shot.number)
    canvas = _background(camera, rng, preset.height, preset.width)
    painter = _Painter(canvas)
    if shot.kind == _Kind.JUNK:
        _render_junk(painter, who, rng, preset)
    else:
        _render_person_shot(painter, who, shot, rng, preset)
    return _develop(canvas, camera, rng, preset)


# --------------------------------------------------------------------------- split plan


def _plan_identity(seed: int, preset: SyntheticPreset, kind: _Kind, index: int, pid: int) -> list[_Shot]:
    """Tracklets in several cameras; a test identity gives one query per camera it appears in."""
    rng = _rng(seed, _Purpose.PLAN, kind, index)
    test = kind == _Kind.TEST
    lo, hi = preset.cameras_per_id
    n_cams = int(rng.integers(lo, hi + 1))
    cams = np.sort(rng.choice(preset.cameras, n_cams, replace=False)) + 1
    floor = 2 if test else 1  # a query camera must keep a gallery image for the other queries
    lo, hi = preset.test_images_per_id if test else preset.train_images_per_id
    total = max(int(rng.integers(lo, hi + 1)), floor * n_cams)
    counts = floor + rng.multinomial(total - floor * n_cams, np.full(n_cams, 1.0 / n_cams))
    shots: list[_Shot] = []
    for cam, count in zip(cams.tolist(), counts.tolist()):
        frame = int(rng.integers(1, 150_000))
        view = int(rng.integers(len(_VIEWS)))
        query = int(rng.integers(count)) if test else -1
        for j in range(count):
            frame += int(rng.integers(4, 40))
            folder = QUERY_DIR if j == query else (GALLERY_DIR if test else TRAIN_DIR)
            shots.append(_Shot(folder, pid, cam, frame, kind, index, len(shots), view))
    return shots


def _plan_singles(seed: int, preset: SyntheticPreset, kind: _Kind, count: int, pid: int) -> list[_Shot]:
    shots = []
    for index in range(count):
        rng = _rng(seed, _Purpose.PLAN, kind, index)
        camera = int(rng.integers(1, preset.cameras + 1))
        frame = int(rng.integers(1, 200_000))
        shots.append(_Shot(GALLERY_DIR, pid, camera, frame, kind, index, 0, int(rng.integers(len(_VIEWS)))))
    return shots


def _unique_names(shots: list[_Shot]) -> list[_Shot]:
    # Two pid-0 (or pid -1) boxes may share a camera and frame: like Market, bump the _kk index.
    used: set[str] = set()
    named = []
    for shot in shots:
        while shot.name in used:
            shot = replace(shot, slot=shot.slot + 1)
        used.add(shot.name)
        named.append(shot)
    return named


def _plan(seed: int, preset: SyntheticPreset) -> list[_Shot]:
    shots: list[_Shot] = []
    for index in range(preset.train_ids):
        shots += _plan_identity(seed, preset, _Kind.TRAIN, index, 1 + index)
    for index in range(preset.test_ids):
        shots += _plan_identity(seed, preset, _Kind.TEST, index, 1 + preset.train_ids + index)
    shots += _plan_singles(seed, preset, _Kind.DISTRACTOR, preset.distractors, DISTRACTOR_PID)
    shots += _plan_singles(seed, preset, _Kind.JUNK, preset.junk, JUNK_PID)
    return _unique_names(shots)


# --------------------------------------------------------------------------- archives


def _tar_entry(name: str, size: int, directory: bool) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write_archive(folder: Path, archive: Path) -> None:
    """A byte-reproducible tar.gz holding ``folder`` as its single top-level directory."""
    with archive.open("wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as packed, \
            tarfile.open(fileobj=packed, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(_tar_entry(folder.name, 0, directory=True))
        for path in sorted(folder.iterdir()):
            data = path.read_bytes()
            tar.addfile(_tar_entry(f"{folder.name}/{path.name}", len(data), directory=False), io.BytesIO(data))


# --------------------------------------------------------------------------- output


def _describe(root: Path, preset: SyntheticPreset, seed: int, counts: dict[str, int]) -> SyntheticDataset:
    return SyntheticDataset(
        root=root, preset=preset.name, seed=seed, height=preset.height, width=preset.width,
        cameras=preset.cameras, num_train_ids=preset.train_ids, num_test_ids=preset.test_ids,
        num_train_images=counts[TRAIN_DIR], num_query_images=counts[QUERY_DIR],
        num_gallery_images=counts[GALLERY_DIR], num_distractors=preset.distractors, num_junk=preset.junk,
        train_dir=root / TRAIN_DIR, query_dir=root / QUERY_DIR, gallery_dir=root / GALLERY_DIR,
        train_archive=root / ARCHIVE_NAMES[TRAIN_DIR], query_archive=root / ARCHIVE_NAMES[QUERY_DIR],
        gallery_archive=root / ARCHIVE_NAMES[GALLERY_DIR],
    )


def _marker(preset: SyntheticPreset, seed: int, counts: dict[str, int]) -> dict:
    return {
        "generator": "reid_core.synthetic",
        "format_version": FORMAT_VERSION,
        "preset": preset.name,
        "seed": seed,
        "preset_settings": json.loads(json.dumps(asdict(preset))),  # tuples become lists, as on reload
        "counts": counts,
    }


def _previous_output(root: Path, preset: SyntheticPreset, seed: int) -> SyntheticDataset | None:
    """The dataset already at ``root`` if it is ours with the same settings; refuse anything else."""
    try:
        if not root.exists():
            return None
        if not root.is_dir():
            raise DatasetError(f"{root}: exists and is not a directory")
        if not any(root.iterdir()):
            return None
        recorded = json.loads((root / MARKER_NAME).read_text())
    except (OSError, ValueError):
        raise DatasetError(f"{root}: directory is not empty and holds no synthetic dataset; "
                           "refusing to write into it") from None
    if not isinstance(recorded, dict) or recorded.get("generator") != "reid_core.synthetic":
        raise DatasetError(f"{root / MARKER_NAME}: not written by reid_core.synthetic; refusing to write into {root}")
    if (recorded.get("preset"), recorded.get("seed")) != (preset.name, seed):
        raise DatasetError(f"{root}: holds synthetic preset {recorded.get('preset')!r} seed {recorded.get('seed')!r}, "
                           f"not preset {preset.name!r} seed {seed}; use another directory or remove it")
    counts = recorded.get("counts")
    if recorded != _marker(preset, seed, counts) or not isinstance(counts, dict) or set(counts) != set(ARCHIVE_NAMES):
        raise DatasetError(f"{root}: holds preset {preset.name!r} seed {seed} from another version of the generator; "
                           "remove it to regenerate")
    dataset = _describe(root, preset, seed, counts)
    for path in (dataset.train_dir, dataset.query_dir, dataset.gallery_dir,
                 dataset.train_archive, dataset.query_archive, dataset.gallery_archive):
        if not path.exists():
            raise DatasetError(f"{path}: missing from a finished synthetic dataset; remove {root} and regenerate")
    return dataset


def _generate(staging: Path, preset: SyntheticPreset, seed: int) -> dict[str, int]:
    taken_test: set[tuple[int, ...]] = set()
    people = {
        _Kind.TRAIN: _population(seed, _Kind.TRAIN, preset.train_ids, set()),
        _Kind.TEST: _population(seed, _Kind.TEST, preset.test_ids, taken_test),
        # Distractors must not be doppelgangers of test people, so they share the test key set.
        _Kind.DISTRACTOR: _population(seed, _Kind.DISTRACTOR, preset.distractors, taken_test),
        _Kind.JUNK: _population(seed, _Kind.JUNK, preset.junk, set()),
    }
    cameras = [_make_camera(seed, index, preset) for index in range(1, preset.cameras + 1)]
    counts = dict.fromkeys(ARCHIVE_NAMES, 0)
    for folder in ARCHIVE_NAMES:
        (staging / folder).mkdir()
    for shot in _plan(seed, preset):
        data = _render(shot, people[shot.kind][shot.person], cameras[shot.camera - 1], seed, preset)
        (staging / shot.folder / shot.name).write_bytes(data)
        counts[shot.folder] += 1
    for folder, archive in ARCHIVE_NAMES.items():
        _write_archive(staging / folder, staging / archive)
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
    previous = _previous_output(root, settings, seed)
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
        (staging / MARKER_NAME).write_text(json.dumps(_marker(settings, seed, counts), indent=2) + "\n")
        try:
            os.replace(staging, root)  # also replaces an empty directory, atomically
        except OSError as err:
            raise DatasetError(f"{root}: cannot move the finished dataset into place ({err.strerror})") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return _describe(root, settings, seed, counts)
