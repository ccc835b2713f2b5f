"""PNG outputs of ``evaluate``: the CMC curve and a grid of sampled queries with their top matches."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from reid_core.data.market1501 import JUNK_PID, ImageRecord  # noqa: E402

CORRECT, WRONG, QUERY = (40, 170, 60), (210, 40, 40), (40, 90, 210)


def write_cmc_curve(cmc: np.ndarray, path: str | Path, title: str = "CMC curve") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ranks = np.arange(1, len(cmc) + 1)
    figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
    axes.plot(ranks, np.asarray(cmc) * 100, marker="o", markersize=3)
    axes.set_xlabel("rank")
    axes.set_ylabel("matching rate (%)")
    axes.set_ylim(0, 100)
    axes.set_xlim(1, max(len(cmc), 2))
    axes.grid(True, alpha=0.3)
    axes.set_title(f"{title} (rank-1 {cmc[0] * 100:.1f}%)" if len(cmc) else title)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def _tile(record: ImageRecord, size: tuple[int, int], colour: tuple[int, int, int]) -> Image.Image:
    with Image.open(record.path) as image:
        tile = image.convert("RGB").resize(size)
    ImageDraw.Draw(tile).rectangle([0, 0, size[0] - 1, size[1] - 1], outline=colour, width=3)
    return tile


def write_sampled_matches(
    distmat: np.ndarray,
    query: list[ImageRecord],
    gallery: list[ImageRecord],
    path: str | Path,
    num_query: int = 10,
    max_rank: int = 10,
    seed: int = 0,
    tile_size: tuple[int, int] = (64, 128),
) -> Path:
    """Rows of query (blue) + its top ``max_rank`` gallery images, green when the identity matches.

    Gallery images excluded by the protocol (same identity and camera, junk) are skipped.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(query), size=min(num_query, len(query)), replace=False).tolist())
    gallery_pids = np.array([g.pid for g in gallery])
    gallery_cams = np.array([g.camid for g in gallery])
    width, height = tile_size
    gap = 6
    sheet = Image.new("RGB", ((max_rank + 1) * (width + gap) + gap, len(chosen) * (height + gap) + gap), "white")
    for row, qi in enumerate(chosen):
        q = query[qi]
        valid = (gallery_pids != JUNK_PID) & ~((gallery_pids == q.pid) & (gallery_cams == q.camid))
        order = np.argsort(distmat[qi], kind="stable")
        top = [g for g in order if valid[g]][:max_rank]
        y = gap + row * (height + gap)
        sheet.paste(_tile(q, tile_size, QUERY), (gap, y))
        for col, gi in enumerate(top, start=1):
            colour = CORRECT if gallery[gi].pid == q.pid else WRONG
            sheet.paste(_tile(gallery[gi], tile_size, colour), (gap + col * (width + gap), y))
    sheet.save(path)
    return path
