"""Shared fixtures: small image folders, an isolated archive cache, the tiny synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_images(folder: Path, names: list[str], size: tuple[int, int] = (32, 16), seed: int = 0) -> list[Path]:
    """JPEGs with the given file names (random pixels), returned as paths."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for name in names:
        pixels = rng.integers(0, 256, size=(size[0], size[1], 3), dtype=np.uint8)
        path = folder / name
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Archive extractions go to a per-session temporary cache, never the user's home."""
    monkeypatch.setenv("REID_AUTOML_CACHE", str(tmp_path_factory.getbasetemp() / "reid-cache"))


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """The `tiny` synthetic preset, generated once per test session."""
    from reid_core.synthetic import make_dataset

    return make_dataset(tmp_path_factory.mktemp("tiny") / "data", preset="tiny", seed=0)
