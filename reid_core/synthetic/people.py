"""Identities: palettes of clothes, skin and gear, one person's fixed look, populations of them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reid_core.synthetic.streams import Kind, Purpose, stream

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
GEAR_COLOURS = np.array([
    (0.08, 0.08, 0.08), (0.42, 0.42, 0.44), (0.14, 0.18, 0.36), (0.62, 0.14, 0.14),
    (0.40, 0.26, 0.14), (0.66, 0.58, 0.42),
], dtype=np.float32)
_GEAR_WEIGHTS = (1.7, 1.0, 1.0, 0.7, 1.0, 0.8)
_PATTERNS = ("solid", "hstripes", "vstripes", "checks", "logo")
_PATTERN_WEIGHTS = (0.45, 0.15, 0.10, 0.10, 0.20)
VIEWS = ("front", "back", "left", "right")


def _pick(rng: np.random.Generator, weights: tuple[float, ...]) -> int:
    cumulative = np.cumsum(weights)
    return int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))


@dataclass(frozen=True, eq=False)
class Identity:
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


def tint(rng: np.random.Generator, colour: np.ndarray, spread: float = 0.04) -> np.ndarray:
    # Same palette entry, slightly different garment: look-alikes stay close but not equal.
    return np.clip(colour * rng.normal(1.0, spread, 3).astype(np.float32), 0.0, 1.0)


def _optional_gear(rng: np.random.Generator, chance: float) -> int:
    return _pick(rng, _GEAR_WEIGHTS) if rng.random() < chance else -1


def draw_identity(rng: np.random.Generator) -> Identity:
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
    return Identity(
        key=key,
        top=tint(rng, _TOP_COLOURS[top]),
        accent=tint(rng, _TOP_COLOURS[max(accent, 0)]),
        pattern=_PATTERNS[pattern],
        stripe_period=float(rng.uniform(0.035, 0.07)),
        long_sleeves=bool(flags[0]),
        long_top=bool(flags[1]),
        bottom=tint(rng, _BOTTOM_COLOURS[bottom]),
        shorts=bool(flags[2]),
        shoes=tint(rng, _SHOE_COLOURS[shoes]),
        skin=tint(rng, _SKIN_COLOURS[skin], 0.03),
        hair=tint(rng, _HAIR_COLOURS[hair]),
        long_hair=bool(flags[3]),
        backpack=None if backpack < 0 else tint(rng, GEAR_COLOURS[backpack]),
        bag=None if bag < 0 else tint(rng, GEAR_COLOURS[bag]),
        bag_side=bag_side,
        hat=None if hat < 0 else tint(rng, GEAR_COLOURS[hat]),
        stature=float(rng.uniform(0.92, 1.05)),
        build=float(rng.uniform(0.85, 1.15)),
        leg_ratio=float(rng.uniform(0.44, 0.52)),
        head_size=float(rng.uniform(0.9, 1.12)),
    )


def _unique_identity(rng: np.random.Generator, taken: set[tuple[int, ...]]) -> Identity:
    # Redraw from the same stream until the attribute combination is new to the split.
    while True:
        identity = draw_identity(rng)
        if identity.key not in taken:
            taken.add(identity.key)
            return identity


def population(seed: int, kind: Kind, count: int, taken: set[tuple[int, ...]]) -> list[Identity]:
    return [_unique_identity(stream(seed, Purpose.LOOK, kind, index), taken) for index in range(count)]
