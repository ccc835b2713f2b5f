"""One image of a shot: the posed person, passers-by and occluders on a camera's background, developed."""

from __future__ import annotations

import math

import numpy as np

from reid_core.synthetic.cameras import Camera, background, develop
from reid_core.synthetic.painting import Painter, Pose, draw_person
from reid_core.synthetic.people import GEAR_COLOURS, VIEWS, Identity, draw_identity, tint
from reid_core.synthetic.planning import Shot
from reid_core.synthetic.presets import SyntheticPreset
from reid_core.synthetic.streams import Kind, Purpose, stream

_PASSER_BY_RATE = 0.12  # share of images with a second person in the background


def _any_view(rng: np.random.Generator) -> str:
    return VIEWS[int(rng.integers(len(VIEWS)))]


def _any_phase(rng: np.random.Generator) -> float:
    return float(rng.uniform(0.0, 2.0 * math.pi))


def _pose(rng: np.random.Generator, who: Identity, view: int, preset: SyntheticPreset) -> Pose:
    h, w = preset.height, preset.width
    direction = _any_view(rng) if rng.random() < preset.view_change_rate else VIEWS[view]
    size = min(rng.uniform(0.84, 0.95) * who.stature, 0.97) * h
    return Pose(
        cx=w / 2 + rng.normal(0.0, 0.05 * w),
        top=(h - size) * rng.uniform(0.15, 0.85),
        size=size,
        view=direction,
        phase=_any_phase(rng),
    )


def _stranger(p: Painter, rng: np.random.Generator, preset: SyntheticPreset, offset: tuple[float, float],
              top: tuple[float, float], size: tuple[float, float]) -> None:
    """Paint a random passer-by beside the box centre; ranges are fractions of the box size."""
    h, w = preset.height, preset.width
    side = -1.0 if rng.random() < 0.5 else 1.0
    pose = Pose(w / 2 + side * rng.uniform(*offset) * w, rng.uniform(*top) * h, rng.uniform(*size) * h,
                 _any_view(rng), _any_phase(rng))
    draw_person(p, draw_identity(rng), pose)


def _occlude(p: Painter, rng: np.random.Generator, preset: SyntheticPreset) -> None:
    """Cover part of the box with an object in front, or with a passer-by."""
    h, w = preset.height, preset.width
    if rng.random() < 0.5:
        _stranger(p, rng, preset, offset=(0.45, 0.75), top=(-0.05, 0.1), size=(0.8, 1.0))
        return
    colour = tint(rng, GEAR_COLOURS[int(rng.integers(len(GEAR_COLOURS)))], 0.3)
    shading = np.linspace(1.15, 0.75, h, dtype=np.float32)[:, None, None]

    def paint(ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        return np.clip(colour * shading[ys.astype(int).ravel()], 0, 1)

    if rng.random() < 0.6:  # a bench, car or railing across the lower body
        p.box(-2, rng.uniform(0.55, 0.8) * h, w + 2, h + 2, paint, corner=0.04 * w)
    else:  # a pillar or pole at one side
        width = rng.uniform(0.2, 0.4) * w
        x0 = -2 if rng.random() < 0.5 else w + 2 - width
        p.box(x0, -2, x0 + width, h + 2, paint)


def _render_person_shot(p: Painter, who: Identity, shot: Shot, rng: np.random.Generator,
                        preset: SyntheticPreset) -> None:
    if rng.random() < _PASSER_BY_RATE:  # somebody further back, partly inside the box
        _stranger(p, rng, preset, offset=(0.5, 0.8), top=(0.0, 0.15), size=(0.7, 0.85))
    draw_person(p, who, _pose(rng, who, shot.view, preset))
    if rng.random() < preset.occlusion_rate:
        _occlude(p, rng, preset)


def _render_junk(p: Painter, who: Identity, rng: np.random.Generator, preset: SyntheticPreset) -> None:
    """A detector failure: a fragment of a person blown up, or a box that mostly misses them."""
    h, w = preset.height, preset.width
    view, phase = _any_view(rng), _any_phase(rng)
    if rng.random() < 0.5:
        size = rng.uniform(1.8, 3.2) * h
        pose = Pose(w / 2 + rng.normal(0.0, 0.3 * w), -rng.uniform(0.1, 0.75) * size, size, view, phase)
    else:
        side = -1.0 if rng.random() < 0.5 else 1.0
        pose = Pose(w / 2 + side * rng.uniform(0.6, 1.0) * w, rng.uniform(-0.3, 0.3) * h,
                     rng.uniform(0.6, 1.0) * h, view, phase)
    draw_person(p, who, pose)


def render(shot: Shot, who: Identity, camera: Camera, seed: int, preset: SyntheticPreset) -> bytes:
    rng = stream(seed, Purpose.RENDER, shot.kind, shot.person, shot.number)
    canvas = background(camera, rng, preset.height, preset.width)
    painter = Painter(canvas)
    if shot.kind == Kind.JUNK:
        _render_junk(painter, who, rng, preset)
    else:
        _render_person_shot(painter, who, shot, rng, preset)
    return develop(canvas, camera, rng, preset)
