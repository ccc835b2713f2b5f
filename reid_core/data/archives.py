"""Dataset paths may be folders or ``.tar.gz`` archives; archives are extracted once, safely.

An archive is extracted into ``<cache>/archives/<sha256 of its bytes>/`` (so two trials, or
two copies of the same file, share one extraction) through a temporary folder and an atomic
rename, so concurrent trials never see half an extraction. Members with absolute paths or
``..`` are refused up front; tarfile's ``data`` filter refuses links leaving the folder and
device files. The cache folder is ``$REID_AUTOML_CACHE`` or ``~/.cache/reid-automl``.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from reid_core.errors import DatasetError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def cache_root() -> Path:
    configured = os.environ.get("REID_AUTOML_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "reid-automl"


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def content_hash(path: Path) -> str:
    """sha256 of the file, remembered per (path, size, mtime) so a study hashes each archive once."""
    stat = path.stat()
    memo_key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    memo = cache_root() / "hashes" / memo_key
    try:
        return memo.read_text().strip()
    except OSError:
        pass
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        memo.write_text(value)
    except OSError:
        pass  # a read-only cache only costs a re-hash
    return value


def _check_members(archive: tarfile.TarFile, path: Path) -> None:
    for member in archive.getmembers():
        name = member.name
        parts = PurePosixPath(name).parts
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise DatasetError(f"{path}: refused: member {name!r} has an absolute path")
        if ".." in parts:
            raise DatasetError(f"{path}: refused: member {name!r} points outside the archive ('..')")
        if member.issym() or member.islnk():
            base = posixpath.dirname(name) if member.issym() else ""
            target = posixpath.normpath(posixpath.join(base, member.linkname))
            if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
                raise DatasetError(f"{path}: refused: link {name!r} -> {member.linkname!r} leaves the archive")
        if member.isdev() or member.isfifo():
            raise DatasetError(f"{path}: refused: member {name!r} is a device or pipe")


def extract_archive(path: Path) -> Path:
    """Folder holding the archive's extracted content (extracting it on first use)."""
    target = cache_root() / "archives" / content_hash(path)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=target.parent))
    try:
        try:
            with tarfile.open(path, "r:*") as archive:
                _check_members(archive, path)
                archive.extractall(staging, filter="data")
        except tarfile.FilterError as err:
            raise DatasetError(f"{path}: refused: {err}") from None
        except (tarfile.TarError, EOFError, OSError, ValueError) as err:
            raise DatasetError(f"{path}: not a readable tar archive ({str(err).splitlines()[0] or type(err).__name__})") from None
        (staging / ".reid_archive.json").write_text(json.dumps({"source": str(path)}))
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # lost a race only if the winner finished
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir() if p.is_file())


def resolve_dataset_dir(value: str, key: str) -> Path:
    """The image folder behind a spec value: the folder itself, or an archive's extracted content.

    An archive (or folder) holding no images but exactly one sub-folder resolves to that
    sub-folder, so ``sample_train.tar.gz`` containing ``bounding_box_train/`` works as is.
    """
    if not value:
        raise DatasetError(f"{key}: no dataset path given")
    path = Path(value).expanduser()
    if not path.exists():
        raise DatasetError(f"{key}: not found: {path}")
    if path.is_file():
        if not is_archive(path):
            raise DatasetError(f"{key}: {path} is a file but not a .tar.gz/.tgz/.tar archive")
        path = extract_archive(path)
    for _ in range(3):
        if _has_images(path):
            return path
        subdirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if len(subdirs) != 1:
            break
        path = subdirs[0]
    raise DatasetError(f"{key}: no images in {Path(value)} (expected Market-1501 files like 0002_c1s1_000451_03.jpg)")
