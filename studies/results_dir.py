"""A results dir and its study: ``<results>/study.json`` names the storage and the study;
``<results>/summary.json`` is the handoff's summary.

A SQLite file inside the results dir is named by its path relative to the results dir (the folder
may be moved or mounted elsewhere); any other URL is kept without its password.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studies import storage as storages
from studies.errors import RecordError

MARKER = "study.json"
SUMMARY = "summary.json"


def write_marker(results_dir: str | Path, url: str, name: str) -> None:
    """``<results>/study.json``: the storage (a SQLite file inside the results dir by its relative
    name; any other URL without its password) and the study name."""
    folder = Path(results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = storages.sqlite_path(url)
    try:
        relative = path.resolve().relative_to(folder.resolve()) if path is not None else None
    except ValueError:
        relative = None
    data = {"study": name, "sqlite": str(relative)} if relative is not None else \
        {"study": name, "storage": storages.without_password(url)}
    staging = folder / f"{MARKER}.tmp"
    staging.write_text(json.dumps(data, indent=2) + "\n")
    staging.replace(folder / MARKER)


def read_marker(results_dir: str | Path) -> tuple[str, str] | None:
    """(storage URL, study name) of a results dir, or None when it holds no study."""
    folder = Path(results_dir)
    try:
        data = json.loads((folder / MARKER).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or "study" not in data:
        return None
    if "sqlite" in data:
        return f"sqlite:///{(folder / data['sqlite']).resolve()}", data["study"]
    return (storages.with_password(data["storage"]), data["study"]) if "storage" in data else None


def marker_of(results_dir: str | Path) -> tuple[str, str]:
    found = read_marker(results_dir)
    if found is None:
        raise RecordError(f"--results-dir {results_dir}: holds no study (no {MARKER}); launch one first")
    return found




def read_summary(results_dir: Path, study: str) -> dict[str, Any] | None:
    """The handoff's summary of ``study`` in a results dir, when there is one."""
    try:
        data = json.loads((Path(results_dir) / SUMMARY).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and data.get("study") == study else None


def write_summary(results_dir: Path, summary: dict[str, Any]) -> Path:
    path = Path(results_dir) / SUMMARY
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return path
