"""Cameras: a street scene per camera, its illumination and blur habits, and developing images."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from reid_core.synthetic.painting import Painter
from reid_core.synthetic.people import tint
from reid_core.synthetic.presets import SyntheticPreset
from reid_core.synthetic.streams import Purpose, stream

JPEG_QUALITY = 92
_WALL_COLOURS = np.array([
    (0.62, 0.60, 0.56), (0.48, 0.50, 0.52), (0.70, 0.66, 0.58), (0.40, 0.36, 0.32),
    (0.56, 0.60, 0.62), (0.32, 0.34, 0.30), (0.58, 0.40, 0.34), (0.26, 0.30, 0.36),
    (0.76, 0.74, 0.70),
], dtype=np.float32)
_FLOOR_COLOURS = np.array([
    (0.42, 0.42, 0.42), (0.56, 0.52, 0.46), (0.30, 0.30, 0.32), (0.50, 0.46, 0.40),
    (0.36, 0.40, 0.34),
], dtype=np.float32)


@dataclass(frozen=True, eq=False)
class Camera:
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
    floor = _neutral(tint(rng, _FLOOR_COLOURS[rng.integers(len(_FLOOR_COLOURS))], 0.06), clutter)
    ys = np.arange(sh, dtype=np.float32)[:, None, None]
    depth = np.clip((ys - horizon) / (sh - horizon), 0.0, 1.0)
    scene = np.where(ys < horizon, np.float32(0.5), floor * (0.85 + 0.25 * depth)) * np.ones((1, sw, 1), np.float32)
    painter = Painter(scene)
    x = -rng.uniform(0.0, 0.5) * width
    while x < sw:
        facade = _neutral(tint(rng, _WALL_COLOURS[rng.integers(len(_WALL_COLOURS))], 0.1), clutter)
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


def make_camera(seed: int, index: int, preset: SyntheticPreset) -> Camera:
    rng = stream(seed, Purpose.CAMERA, index)
    spread = preset.lighting_spread
    cast = rng.normal(1.0, 0.08 * spread, 3).astype(np.float32)
    h, w = preset.height, preset.width
    rows = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None, None]
    return Camera(
        scene=_scene(rng, preset.height, preset.width, preset.clutter),
        gain=float(np.exp(rng.normal(0.0, 0.22 * spread))),
        gamma=float(np.exp(rng.normal(0.0, 0.18 * spread))),
        cast=cast / cast.mean(),
        saturation=float(np.clip(rng.normal(1.0, 0.2 * spread), 0.5, 1.4)),
        blur=float(rng.uniform(0.0, 0.6)),
        light=1.0 + np.float32(rng.uniform(-0.3, 0.3) * spread) * rows,
        sensor=rng.standard_normal((2 * h, 2 * w, 3), dtype=np.float32),
    )


def background(camera: Camera, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    sh, sw = camera.scene.shape[:2]
    x0, y0 = int(rng.integers(0, sw - width + 1)), int(rng.integers(0, sh - height + 1))
    crop = camera.scene[y0:y0 + height, x0:x0 + width]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return crop * np.float32(rng.uniform(0.85, 1.15))  # a fresh array: the painter writes into it


def develop(image: np.ndarray, camera: Camera, rng: np.random.Generator, preset: SyntheticPreset) -> bytes:
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
