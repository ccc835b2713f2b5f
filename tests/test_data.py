"""Market-1501 parsing, safe archive extraction, PK sampling and tensor transforms."""

from __future__ import annotations

import io
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import write_images
from reid_core.data.archives import content_hash, resolve_dataset_dir
from reid_core.data.market1501 import carve_validation, parse_image_name, relabel, scan_folder
from reid_core.data.samplers import PKSampler, RandomBatchSampler
from reid_core.data.transforms import ReidTransform, resize
from reid_core.errors import DatasetError, SpecError


# --- names -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    ("0002_c1s1_000451_03.jpg", (2, 0)),
    ("1501_c6s4_001902_01.jpg", (1501, 5)),
    ("-1_c1s1_000401_03.jpg", (-1, 0)),  # junk keeps its sign: never identity 1
    ("0000_c3s1_000551_01.jpg", (0, 2)),
    ("0001_c12s1_000001_00.jpg", (1, 11)),
    ("Thumbs.db", None),
    ("c1_0001.jpg", None),
    ("0001_c0s1_0.jpg", None),
    ("-2_c1s1_0.jpg", None),
])
def test_parse_image_name_keeps_the_sign(name, expected):
    assert parse_image_name(name) == expected


def test_scan_skips_unreadable_and_unparsable_files_and_counts_them(tmp_path):
    write_images(tmp_path, ["0001_c1s1_000001_00.jpg", "0001_c2s1_000002_00.jpg"])
    (tmp_path / "0002_c1s1_000003_00.jpg").write_bytes(b"not an image")
    write_images(tmp_path, ["holiday.jpg"])
    report = scan_folder(tmp_path, "dataset.train_dataset_dir")
    assert [r.pid for r in report.records] == [1, 1]
    assert report.unreadable == ("0002_c1s1_000003_00.jpg",)
    assert report.unparsable == ("holiday.jpg",)


def test_scan_of_a_folder_without_usable_images_names_the_key(tmp_path):
    (tmp_path / "0002_c1s1_000003_00.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"dataset.query_dataset_dir: no usable images in .* \(1 unreadable"):
        scan_folder(tmp_path, "dataset.query_dataset_dir")


def test_relabel_drops_junk_and_distractors_and_numbers_identities_in_order(tmp_path):
    write_images(tmp_path, ["0007_c1s1_0_0.jpg", "0003_c1s1_0_0.jpg", "0003_c2s1_0_0.jpg",
                            "-1_c1s1_0_0.jpg", "0000_c1s1_0_0.jpg"])
    records = relabel(scan_folder(tmp_path, "k").records)
    assert sorted((r.pid, r.label) for r in records) == [(3, 0), (3, 0), (7, 1)]


def test_validation_carve_is_identity_disjoint_and_builds_cross_camera_queries(tmp_path):
    names = [f"{pid:04d}_c{cam}s1_{k:06d}_00.jpg" for pid in range(1, 21) for cam in (1, 2, 3) for k in range(2)]
    records = list(scan_folder(write_images(tmp_path, names, size=(8, 4))[0].parent, "k").records)
    carve = carve_validation(records, 0.25, seed=3)
    train_pids = {r.pid for r in carve.train}
    val_pids = {r.pid for r in carve.query} | {r.pid for r in carve.gallery}
    assert len(val_pids) == 5 and not train_pids & val_pids
    assert sorted({r.label for r in carve.train}) == list(range(15))
    for q in carve.query:  # every query has a gallery match from another camera
        assert any(g.pid == q.pid and g.camid != q.camid for g in carve.gallery)
    assert carve_validation(records, 0.25, seed=3).query == carve.query  # deterministic


def test_validation_carve_refuses_a_split_leaving_too_few_identities(tmp_path):
    names = [f"{pid:04d}_c{cam}s1_0_0.jpg" for pid in range(1, 4) for cam in (1, 2)]
    records = list(scan_folder(write_images(tmp_path, names, size=(8, 4))[0].parent, "k").records)
    with pytest.raises(DatasetError, match="dataset.val_split"):
        carve_validation(records, 0.1, seed=0)


# --- archives ----------------------------------------------------------------------------------

def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _image_bytes() -> bytes:
    buffer = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (4, 8), (10, 20, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_archive_is_extracted_once_into_a_content_addressed_cache(tmp_path):
    image = _image_bytes()
    archive = _tar(tmp_path / "sample_train.tar.gz", [_file("bounding_box_train/0001_c1s1_0_0.jpg", image),
                                                      _file("bounding_box_train/0001_c2s1_0_0.jpg", image)])
    folder = resolve_dataset_dir(str(archive), "dataset.train_dataset_dir")
    assert folder.name == "bounding_box_train" and len(list(folder.iterdir())) == 2
    assert content_hash(archive) in str(folder)
    copy = tmp_path / "copy.tar.gz"
    copy.write_bytes(archive.read_bytes())
    assert resolve_dataset_dir(str(copy), "k") == folder  # same bytes, same extraction


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def _device(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    return info, None


@pytest.mark.parametrize(("member", "expected"), [
    (_file("../evil.jpg"), "points outside the archive"),
    (_file("a/../../evil.jpg"), "points outside the archive"),
    (_file("/etc/evil.jpg"), "absolute path"),
    (_link("a/link.jpg", "/etc/passwd"), "leaves the archive"),
    (_link("a/link.jpg", "../../outside"), "leaves the archive"),
    (_link("a/hard.jpg", "../outside", tarfile.LNKTYPE), "leaves the archive"),
    (_device("a/null"), "device"),
])
def test_hostile_archive_is_refused_and_nothing_is_written_outside(tmp_path, member, expected):
    archive = _tar(tmp_path / "evil.tar.gz", [_file("a/0001_c1s1_0_0.jpg", _image_bytes()), member])
    with pytest.raises(DatasetError, match=expected) as caught:
        resolve_dataset_dir(str(archive), "dataset.train_dataset_dir")
    assert "evil.tar.gz" in str(caught.value)
    assert not (tmp_path.parent / "evil.jpg").exists() and not (tmp_path / "evil.jpg").exists()


def test_archive_with_an_internal_symlink_is_accepted(tmp_path):
    archive = _tar(tmp_path / "ok.tar.gz", [_file("a/0001_c1s1_0_0.jpg", _image_bytes()),
                                            _link("a/0001_c2s1_0_0.jpg", "0001_c1s1_0_0.jpg")])
    assert resolve_dataset_dir(str(archive), "k").name == "a"


@pytest.mark.parametrize(("content", "expected"), [
    (b"definitely not gzip", "not a readable tar archive"),
    (b"\x1f\x8b\x08\x00" + b"\x00" * 20, "not a readable tar archive"),
])
def test_corrupt_archive_is_refused(tmp_path, content, expected):
    path = tmp_path / "broken.tar.gz"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=expected):
        resolve_dataset_dir(str(path), "dataset.test_dataset_dir")


def test_missing_path_and_plain_file_are_refused_naming_the_key(tmp_path):
    with pytest.raises(DatasetError, match="dataset.train_dataset_dir: not found"):
        resolve_dataset_dir(str(tmp_path / "nope"), "dataset.train_dataset_dir")
    (tmp_path / "list.txt").write_text("x")
    with pytest.raises(DatasetError, match="is a file but not a .tar.gz"):
        resolve_dataset_dir(str(tmp_path / "list.txt"), "dataset.train_dataset_dir")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images in"):
        resolve_dataset_dir(str(tmp_path / "empty"), "dataset.train_dataset_dir")


# --- samplers ----------------------------------------------------------------------------------

def _labels(counts: list[int]) -> list[int]:
    return [label for label, count in enumerate(counts) for _ in range(count)]


def _batches(sampler, batch_size: int) -> list[list[tuple[int, int]]]:
    items = list(sampler)
    return [items[i : i + batch_size] for i in range(0, len(items), batch_size)]


def test_pk_batches_hold_p_distinct_identities_with_k_images_each():
    labels = _labels([7, 4, 2, 9, 5, 6, 1, 8])
    sampler = PKSampler(labels, batch_size=12, num_instances=4, seed=1)
    batches = _batches(sampler, 12)
    assert len(batches) * 12 == len(sampler) and batches
    for batch in batches:
        counts = Counter(labels[index] for index, _seed in batch)
        assert len(counts) == 3 and set(counts.values()) == {4}
        groups = [batch[i : i + 4] for i in range(0, 12, 4)]
        assert all(len({labels[i] for i, _ in g}) == 1 for g in groups)  # K images of one identity together


def test_identities_with_fewer_than_k_images_are_sampled_with_replacement():
    labels = _labels([1, 2, 8, 8])
    batches = _batches(PKSampler(labels, batch_size=8, num_instances=4, seed=0), 8)
    drawn = Counter(labels[i] for batch in batches for i, _ in batch)
    assert drawn[0] >= 4  # a single image appears K times


def test_pk_plan_is_a_function_of_seed_and_epoch():
    labels = _labels([6] * 10)
    a, b = PKSampler(labels, 8, 4, seed=5), PKSampler(labels, 8, 4, seed=5)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    a.set_epoch(0)
    assert list(a) == first


def test_ddp_ranks_get_disjoint_whole_identity_batches_of_equal_count():
    labels = _labels([8] * 12)
    ranks = [PKSampler(labels, 8, 4, seed=2, rank=r, world_size=3) for r in range(3)]
    batches = [_batches(s, 8) for s in ranks]
    assert len({len(b) for b in batches}) == 1
    used = [i for rank in batches for batch in rank for i, _ in batch]
    assert len(used) == len(set(used))  # no image is seen by two ranks in one epoch
    single = _batches(PKSampler(labels, 8, 4, seed=2), 8)
    assert sum(len(b) for b in batches) == len(single) // 3 * 3


def test_pk_sampler_refuses_impossible_batches():
    with pytest.raises(SpecError, match="multiple of dataset.num_instances=4"):
        PKSampler(_labels([4] * 4), batch_size=10, num_instances=4)
    with pytest.raises(SpecError, match="needs 4 identities per batch .* has 3"):
        PKSampler(_labels([4] * 3), batch_size=16, num_instances=4)


def test_random_batches_cover_each_image_at_most_once_per_epoch():
    sampler = RandomBatchSampler(50, 8, seed=0)
    indices = [i for i, _ in sampler]
    assert len(indices) == 48 and len(set(indices)) == 48


def test_augmentation_seeds_differ_per_sample_and_per_epoch():
    sampler = PKSampler(_labels([8] * 4), 8, 4, seed=0)
    seeds = [s for _, s in sampler]
    assert len(set(seeds)) == len(seeds)
    sampler.set_epoch(1)
    assert [s for _, s in sampler] != seeds


# --- transforms --------------------------------------------------------------------------------

def _transform(**kwargs) -> ReidTransform:
    return ReidTransform(32, 16, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), **kwargs)


def test_eval_transform_resizes_and_normalises():
    image = torch.full((3, 64, 32), 128, dtype=torch.uint8)
    out = _transform()(image)
    assert out.shape == (3, 32, 16)
    assert torch.allclose(out, torch.full_like(out, (128 / 255 - 0.5) / 0.25), atol=1e-6)


def test_train_transform_is_deterministic_per_seed():
    image = torch.randint(0, 256, (3, 32, 16), dtype=torch.uint8)
    t = _transform(train=True, padding=4, erase_prob=0.5)
    assert torch.equal(t(image, 7), t(image, 7))
    assert any(not torch.equal(t(image, 7), t(image, s)) for s in range(8, 20))


def test_flip_probability_extremes():
    image = torch.arange(3 * 32 * 16, dtype=torch.float32).reshape(3, 32, 16).to(torch.uint8)
    never = _transform(train=True, flip_prob=0.0, padding=0, erase_prob=0.0)
    always = _transform(train=True, flip_prob=1.0, padding=0, erase_prob=0.0)
    assert torch.equal(always(image, 1), never(image, 1).flip(-1))


def test_pad_and_crop_keeps_the_size_and_shifts_content():
    image = torch.full((3, 32, 16), 255, dtype=torch.uint8)
    t = _transform(train=True, flip_prob=0.0, padding=4, erase_prob=0.0)
    outs = [t(image, s) for s in range(30)]
    assert all(o.shape == (3, 32, 16) for o in outs)
    black = (0 - 0.5) / 0.25
    assert any((o == black).any() for o in outs)  # some crops show the zero padding


def test_random_erasing_fills_a_box_with_the_mean_colour():
    image = torch.full((3, 32, 16), 255, dtype=torch.uint8)
    t = _transform(train=True, flip_prob=0.0, padding=0, erase_prob=1.0)
    out = t(image, 3)
    erased = (out == 0).all(dim=0)
    area = erased.sum().item() / (32 * 16)
    assert 0.0 < area <= 0.45
    rows, cols = np.nonzero(erased.numpy())
    assert erased[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()  # one rectangle


def test_resize_is_a_no_op_at_the_right_size():
    image = torch.randint(0, 256, (3, 32, 16), dtype=torch.uint8)
    assert resize(image, 32, 16) is image
    assert resize(image, 64, 32).shape == (3, 64, 32)


def test_every_epoch_has_the_same_number_of_batches():
    """Lightning validates at epoch 0's batch count; a shorter epoch would skip its validation."""
    labels = _labels([17, 13, 11, 6, 7, 2, 3, 2, 5, 16, 13, 18])  # the greedy plan alone gives 12 or 13 batches
    sampler = PKSampler(labels, batch_size=8, num_instances=4, seed=3)
    lengths = set()
    for epoch in range(30):
        sampler.set_epoch(epoch)
        batches = _batches(sampler, 8)
        lengths.add(len(batches))
        assert len(batches) * 8 == len(sampler)
        assert all(len(Counter(labels[i] for i, _ in b)) == 2 for b in batches)
    assert len(lengths) == 1
