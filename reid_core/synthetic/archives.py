"""A finished output: byte-reproducible archives, the marker, and recognising an earlier run."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import asdict
from pathlib import Path

from reid_core.errors import DatasetError
from reid_core.synthetic.layout import ARCHIVE_NAMES, FORMAT_VERSION, MARKER_NAME, SyntheticDataset, describe
from reid_core.synthetic.presets import SyntheticPreset


def _tar_entry(name: str, size: int, directory: bool) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_archive(folder: Path, archive: Path) -> None:
    """A byte-reproducible tar.gz holding ``folder`` as its single top-level directory."""
    with archive.open("wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as packed, \
            tarfile.open(fileobj=packed, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(_tar_entry(folder.name, 0, directory=True))
        for path in sorted(folder.iterdir()):
            data = path.read_bytes()
            tar.addfile(_tar_entry(f"{folder.name}/{path.name}", len(data), directory=False), io.BytesIO(data))


def marker(preset: SyntheticPreset, seed: int, counts: dict[str, int]) -> dict:
    return {
        "generator": "reid_core.synthetic",
        "format_version": FORMAT_VERSION,
        "preset": preset.name,
        "seed": seed,
        "preset_settings": json.loads(json.dumps(asdict(preset))),  # tuples become lists, as on reload
        "counts": counts,
    }


def previous_output(root: Path, preset: SyntheticPreset, seed: int) -> SyntheticDataset | None:
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
    if recorded != marker(preset, seed, counts) or not isinstance(counts, dict) or set(counts) != set(ARCHIVE_NAMES):
        raise DatasetError(f"{root}: holds preset {preset.name!r} seed {seed} from another version of the generator; "
                           "remove it to regenerate")
    dataset = describe(root, preset, seed, counts)
    for path in (dataset.train_dir, dataset.query_dir, dataset.gallery_dir,
                 dataset.train_archive, dataset.query_archive, dataset.gallery_archive):
        if not path.exists():
            raise DatasetError(f"{path}: missing from a finished synthetic dataset; remove {root} and regenerate")
    return dataset
