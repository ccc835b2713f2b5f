"""Random streams keyed by what they are for, so one count never shifts another draw."""

from __future__ import annotations

import enum

import numpy as np


class Purpose(enum.IntEnum):
    """First key of every random stream, so streams for different purposes never collide."""

    CAMERA = 1
    LOOK = 2
    PLAN = 3
    RENDER = 4


class Kind(enum.IntEnum):
    """Which population a person belongs to; part of their stream keys."""

    TRAIN = 1
    TEST = 2
    DISTRACTOR = 3
    JUNK = 4


def stream(seed: int, *key: int) -> np.random.Generator:
    """The generator for one purpose, keyed by ``(seed, purpose, ...)``."""
    return np.random.default_rng([seed, *key])
