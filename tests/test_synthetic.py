"""Tests for the embedded synthetic Market-1501-style dataset generator.

The two nearest-neighbour baselines at the bottom (raw pixels, colour histograms) double as
the difficulty probe used to tune the presets; they are test code, not part of the package.
"""

from __future__ import annotations

import json
import re
import tarfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reid_core.errors import DatasetError
from reid_core.synthetic import PRESETS, SyntheticDataset, make_dataset
from reid_core.synthetic.planning import plan

PID_CAM = re.compile(r"^(-?\d+)_c(\d+)")
MARKET_NAME = re.compile(r"^(-1|\d{4})_c(\d+)s1_(\d{6})_(\d{2})\.jpg$")


def _parse(folder: Path) -> list[tuple[int, int, str]]:
    """(pid, camera, name) for every image in ``folder``."""
    found = []
    for path in sorted(folder.iterdir()):
        match = PID_CAM.match(path.name)
        assert match, path.name
        found.append((int(match.group(1)), int(match.group(2)), path.name))
    return found


def _folder_bytes(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDataset:
    return make_dataset(tmp_path_factory.mktemp("tiny") / "out", "tiny", 0)


# --------------------------------------------------------------------------- layout


def test_tiny_layout_and_counts(tiny: SyntheticDataset) -> None:
    preset = PRESETS["tiny"]
    assert (tiny.height, tiny.width) == (preset.height, preset.width)
    for folder in (tiny.train_dir, tiny.query_dir, tiny.gallery_dir):
        assert folder.is_dir()
        for path in folder.iterdir():
            assert MARKET_NAME.match(path.name), path.name
    train, query, gallery = (_parse(d) for d in (tiny.train_dir, tiny.query_dir, tiny.gallery_dir))
    assert len(train) == tiny.num_train_images
    assert len(query) == tiny.num_query_images
    assert len(gallery) == tiny.num_gallery_images
    assert sum(pid == 0 for pid, _, _ in gallery) == tiny.num_distractors == preset.distractors
    assert sum(pid == -1 for pid, _, _ in gallery) == tiny.num_junk == preset.junk
    assert len({pid for pid, _, _ in train}) == tiny.num_train_ids == preset.train_ids
    assert len({pid for pid, _, _ in query}) == tiny.num_test_ids == preset.test_ids
    cameras = {cam for _, cam, _ in train + query + gallery}
    assert cameras <= set(range(1, preset.cameras + 1))


def test_images_are_jpegs_of_the_preset_size(tiny: SyntheticDataset) -> None:
    for folder in (tiny.train_dir, tiny.query_dir, tiny.gallery_dir):
        path = next(folder.iterdir())
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert image.mode == "RGB"
            assert image.size == (tiny.width, tiny.height)


def test_train_identities_are_real_disjoint_and_multi_camera(tiny: SyntheticDataset) -> None:
    train_cams: dict[int, set[int]] = defaultdict(set)
    for pid, cam, _ in _parse(tiny.train_dir):
        train_cams[pid].add(cam)
    assert min(train_cams) >= 1
    assert all(len(cams) >= 2 for cams in train_cams.values())
    test_pids = {pid for pid, _, _ in _parse(tiny.query_dir) + _parse(tiny.gallery_dir) if pid > 0}
    assert not set(train_cams) & test_pids


def test_market_query_protocol(tiny: SyntheticDataset) -> None:
    query, gallery = _parse(tiny.query_dir), _parse(tiny.gallery_dir)
    assert all(pid >= 1 for pid, _, _ in query)  # junk and distractors live only in the gallery
    gallery_cams: dict[int, set[int]] = defaultdict(set)
    for pid, cam, _ in gallery:
        gallery_cams[pid].add(cam)
    query_cams: dict[int, list[int]] = defaultdict(list)
    for pid, cam, _ in query:
        query_cams[pid].append(cam)
        assert gallery_cams[pid] - {cam}, f"query {pid} c{cam} has no gallery image from another camera"
    for pid, cams in query_cams.items():
        assert len(cams) == len(set(cams)), f"pid {pid}: more than one query in a camera"
        assert set(cams) == gallery_cams[pid], f"pid {pid}: cameras of its queries and gallery differ"
    assert set(query_cams) == {pid for pid in gallery_cams if pid > 0}


def test_junk_and_distractor_names(tiny: SyntheticDataset) -> None:
    names = [name for _, _, name in _parse(tiny.gallery_dir)]
    assert any(re.match(r"^-1_c\d+s1_\d{6}_\d{2}\.jpg$", name) for name in names)
    assert any(name.startswith("0000_c") for name in names)


def test_presets_expose_sizes() -> None:
    assert (PRESETS["tiny"].height, PRESETS["tiny"].width) == (64, 32)
    assert (PRESETS["demo"].height, PRESETS["demo"].width) == (128, 64)
    assert (PRESETS["large"].height, PRESETS["large"].width) == (128, 64)
    assert all(preset.name == name for name, preset in PRESETS.items())


# --------------------------------------------------------------------------- determinism


def test_same_seed_is_byte_identical_and_other_seed_differs(tiny: SyntheticDataset, tmp_path: Path) -> None:
    again_root = tmp_path / "again"
    again_root.mkdir()  # an existing empty directory is an acceptable output
    again = make_dataset(again_root, "tiny", 0)
    assert _folder_bytes(again.root) == _folder_bytes(tiny.root)
    other = make_dataset(tmp_path / "other", "tiny", 1)
    for archive in ("train_archive", "query_archive", "gallery_archive"):
        assert getattr(other, archive).read_bytes() != getattr(tiny, archive).read_bytes()
    first = {name: data for name, data in _folder_bytes(tiny.root).items() if name.endswith(".jpg")}
    second = {name: data for name, data in _folder_bytes(other.root).items() if name.endswith(".jpg")}
    assert first.keys() != second.keys() or first != second


# --------------------------------------------------------------------------- archives


@pytest.mark.parametrize("which", ["train", "query", "gallery"])
def test_archive_is_safe_sorted_reproducible_and_matches_folder(tiny: SyntheticDataset, which: str) -> None:
    archive: Path = getattr(tiny, f"{which}_archive")
    folder: Path = getattr(tiny, f"{which}_dir")
    raw = archive.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\0\0\0\0"  # gzip magic, zero header mtime
    with tarfile.open(archive, "r:gz") as tar:
        members = tar.getmembers()
        names = [member.name for member in members]
        assert names == sorted(names)
        assert members[0].isdir() and members[0].name == folder.name
        assert {name.split("/")[0] for name in names} == {folder.name}
        for member in members:
            assert not member.name.startswith("/") and ".." not in member.name.split("/")
            assert member.isfile() or member.isdir()
            assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (0, 0, 0, "", "")
            assert member.mode == (0o755 if member.isdir() else 0o644)
        packed = {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in members if m.isfile()}
    on_disk = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert packed == on_disk


# --------------------------------------------------------------------------- re-runs and refusals


def test_rerun_into_finished_output_returns_without_rewriting(tiny: SyntheticDataset) -> None:
    stamps = {path: path.stat().st_mtime_ns for path in tiny.root.iterdir()}
    again = make_dataset(tiny.root, "tiny", 0)
    assert again == tiny
    assert {path: path.stat().st_mtime_ns for path in tiny.root.iterdir()} == stamps


def test_rerun_with_other_seed_or_preset_is_refused(tiny: SyntheticDataset) -> None:
    with pytest.raises(DatasetError, match="seed"):
        make_dataset(tiny.root, "tiny", 1)
    with pytest.raises(DatasetError, match="demo"):
        make_dataset(tiny.root, "demo", 0)


def test_foreign_non_empty_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path))):
        make_dataset(tmp_path, "tiny", 0)
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_marker_from_another_generator_version_is_refused(tmp_path: Path) -> None:
    stale = {"generator": "reid_core.synthetic", "format_version": 0, "preset": "tiny", "seed": 0, "counts": {}}
    (tmp_path / "synthetic.json").write_text(json.dumps(stale))
    with pytest.raises(DatasetError, match="another version"):
        make_dataset(tmp_path, "tiny", 0)
    (tmp_path / "synthetic.json").write_text(json.dumps({"generator": "someone else"}))
    with pytest.raises(DatasetError, match="not written by"):
        make_dataset(tmp_path, "tiny", 0)


def test_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(DatasetError, match="not a directory"):
        make_dataset(target, "tiny", 0)


def test_unknown_preset_names_it_and_lists_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        make_dataset(tmp_path / "out", "huge", 0)
    message = str(caught.value)
    assert "'huge'" in message and "\n" not in message
    assert all(name in message for name in PRESETS)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_bad_seed_is_refused(tmp_path: Path, seed: object) -> None:
    with pytest.raises(DatasetError, match="seed"):
        make_dataset(tmp_path / "out", "tiny", seed)  # type: ignore[arg-type]


def test_large_preset_is_market_scale() -> None:
    # Planning is cheap (no rendering), so the large preset's split can be checked here.
    shots = plan(0, PRESETS["large"])
    counts = defaultdict(int)
    for shot in shots:
        counts[shot.folder] += 1
    assert 12_000 <= counts["bounding_box_train"] <= 14_000
    assert 3_000 <= counts["query"] <= 3_700
    assert 18_500 <= counts["bounding_box_test"] <= 21_000
    assert len({(shot.folder, shot.name) for shot in shots}) == len(shots)


# --------------------------------------------------------------------------- difficulty probe


def load_split(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images as float RGB in [0, 1], with their pids and cameras."""
    parsed = _parse(folder)
    images = np.stack([np.asarray(Image.open(folder / name).convert("RGB"), dtype=np.float32) / 255.0
                       for _, _, name in parsed])
    return images, np.array([p for p, _, _ in parsed]), np.array([c for _, c, _ in parsed])


def rank1(distance: np.ndarray, query_pids: np.ndarray, query_cams: np.ndarray,
          gallery_pids: np.ndarray, gallery_cams: np.ndarray) -> float:
    """Market rank-1: drop junk and same-pid-same-camera gallery entries per query."""
    hits = []
    for row, pid, cam in zip(distance, query_pids, query_cams):
        valid = (gallery_pids != -1) & ~((gallery_pids == pid) & (gallery_cams == cam))
        if not np.any(valid & (gallery_pids == pid)):
            continue
        hits.append(gallery_pids[np.argmin(np.where(valid, row, np.inf))] == pid)
    return float(np.mean(hits))


def raw_pixel_features(images: np.ndarray) -> np.ndarray:
    """Block-average down to a quarter of the height and width, flattened."""
    n, h, w, _ = images.shape
    return images.reshape(n, h // 4, 4, w // 4, 4, 3).mean(axis=(2, 4)).reshape(n, -1)


def colour_histograms(images: np.ndarray, bins: int = 8, centre: bool = False) -> np.ndarray:
    """Joint RGB histograms (bins per channel), normalised; ``centre`` keeps the middle half of the width."""
    if centre:
        h, w = images.shape[1:3]
        images = images[:, h // 16: h - h // 32, w // 4: w - w // 4]
    codes = np.minimum((images * bins).astype(np.int64), bins - 1)
    codes = ((codes[..., 0] * bins + codes[..., 1]) * bins + codes[..., 2]).reshape(len(images), -1)
    counts = np.stack([np.bincount(row, minlength=bins ** 3) for row in codes]).astype(np.float32)
    return counts / counts.sum(axis=1, keepdims=True)


def euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(squared, 0.0))


def manhattan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.stack([np.abs(row - b).sum(1) for row in a])


def baselines(root: Path) -> dict[str, float]:
    """Rank-1 of nearest neighbour on raw pixels and on colour histograms (whole box, centre)."""
    qi, qp, qc = load_split(root / "query")
    gi, gp, gc = load_split(root / "bounding_box_test")
    return {
        "raw_pixels": rank1(euclidean(raw_pixel_features(qi), raw_pixel_features(gi)), qp, qc, gp, gc),
        "colour_histogram": rank1(manhattan(colour_histograms(qi), colour_histograms(gi)), qp, qc, gp, gc),
        "colour_histogram_centre": rank1(
            manhattan(colour_histograms(qi, centre=True), colour_histograms(gi, centre=True)), qp, qc, gp, gc),
    }


def test_tiny_is_neither_trivial_nor_hopeless(tiny: SyntheticDataset) -> None:
    scores = baselines(tiny.root)
    chance = 1.0 / (tiny.num_test_ids + tiny.num_distractors)
    assert scores["raw_pixels"] < 0.8
    assert scores["colour_histogram_centre"] < 0.9
    assert max(scores.values()) > 2 * chance
