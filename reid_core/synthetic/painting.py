"""Painting people: an anti-aliased shape painter, a posed body, and a person drawn back to front."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reid_core.synthetic.people import Identity

Paint = np.ndarray | Callable[[np.ndarray, np.ndarray], np.ndarray]  # a colour, or a texture of (ys, xs)
_Window = tuple[slice, slice]


def _shade(colour: np.ndarray, factor: float) -> np.ndarray:
    return colour * np.float32(factor)


class Painter:
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


@dataclass(frozen=True)
class Pose:
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


def _body(who: Identity, pose: Pose) -> _Body:
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


def _top_paint(who: Identity, b: _Body) -> Paint:
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


def _draw_leg(p: Painter, who: Identity, b: _Body, hip_x: float, ankle_x: float, shade: float) -> None:
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


def _draw_legs(p: Painter, who: Identity, b: _Body, phase: float) -> None:
    if b.facing:
        stride = 0.11 * b.size * math.sin(phase)
        for ankle_x, shade in ((b.cx - stride, 0.8), (b.cx + stride, 1.0)):  # the far leg is in shadow
            _draw_leg(p, who, b, b.cx, ankle_x, shade)
        return
    spread = 0.55 * b.half_width
    stance = spread + 0.015 * b.size * math.sin(phase)  # seen head-on, a stride only moves the feet a little
    for sign in (-1.0, 1.0):
        _draw_leg(p, who, b, b.cx + sign * spread, b.cx + sign * stance, 1.0)


def _draw_arm(p: Painter, who: Identity, b: _Body, shoulder_x: float, hand_x: float, shade: float) -> None:
    radius = 0.037 * b.size * min(who.build, 1.1)
    top_y, hand_y = b.shoulder + 0.03 * b.size, b.hip + 0.03 * b.size
    elbow_x, elbow_y = shoulder_x + 0.45 * (hand_x - shoulder_x), top_y + 0.45 * (hand_y - top_y)
    if who.long_sleeves:
        p.capsule(shoulder_x, top_y, hand_x, hand_y, radius, _shade(who.top, shade))
    else:
        p.capsule(elbow_x, elbow_y, hand_x, hand_y, radius * 0.8, _shade(who.skin, shade))
        p.capsule(shoulder_x, top_y, elbow_x, elbow_y, radius * 1.05, _shade(who.top, shade))
    p.ellipse(hand_x, hand_y + radius, radius * 0.9, radius * 1.1, _shade(who.skin, shade))


def _draw_arms(p: Painter, who: Identity, b: _Body, phase: float, far: bool) -> None:
    if b.facing:
        swing = 0.09 * b.size * math.sin(phase)
        hand_x, shade = (b.cx + swing, 0.8) if far else (b.cx - swing, 1.0)
        _draw_arm(p, who, b, b.cx, hand_x, shade)
        return
    reach = b.half_width + 0.028 * b.size
    for sign in (-1.0, 1.0):
        _draw_arm(p, who, b, b.cx + sign * reach, b.cx + sign * (reach + 0.01 * b.size), 1.0)


def _draw_torso(p: Painter, who: Identity, b: _Body, view: str) -> None:
    bottom = b.hip + (0.14 if who.long_top else 0.025) * b.size
    p.box(b.cx - b.half_width, b.shoulder, b.cx + b.half_width, bottom, _top_paint(who, b),
          corner=0.35 * b.half_width)
    if who.pattern == "logo" and view == "front":  # a print is only visible from the front
        size = 0.6 * b.half_width
        chest = b.shoulder + 0.1 * b.size
        p.box(b.cx - size / 2, chest, b.cx + size / 2, chest + 0.7 * size, who.accent, corner=0.2 * size)


def _draw_head(p: Painter, who: Identity, b: _Body, view: str) -> None:
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


def _draw_long_hair(p: Painter, who: Identity, b: _Body) -> None:
    p.box(b.cx - b.head_rx * 1.05, b.head_cy, b.cx + b.head_rx * 1.05, b.shoulder + 0.08 * b.size, who.hair,
          corner=0.5 * b.head_rx)


def _draw_backpack(p: Painter, who: Identity, b: _Body, view: str) -> None:
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


def _draw_bag(p: Painter, who: Identity, b: _Body, view: str) -> None:
    u = b.size
    side = who.bag_side * (-1.0 if view == "back" else 1.0)  # mirrored when seen from behind
    if b.facing:
        bag_x = b.cx + 0.02 * u * side
    else:
        bag_x = b.cx + side * (b.half_width + 0.04 * u)
        p.capsule(b.cx - side * 0.8 * b.half_width, b.shoulder + 0.01 * u, bag_x, b.hip - 0.02 * u,
                  0.01 * u, _shade(who.bag, 0.75))
    p.box(bag_x - 0.055 * u, b.hip - 0.04 * u, bag_x + 0.055 * u, b.hip + 0.07 * u, who.bag, corner=0.015 * u)


def draw_person(p: Painter, who: Identity, pose: Pose) -> None:
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
