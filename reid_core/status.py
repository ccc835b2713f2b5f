"""``status.json``: one JSON object per line, appended, in TAO's field names.

Each line is written with a single ``write`` of the whole line and flushed, so a process
tailing the file sees whole lines only (a reader should still ignore a last line without its
newline). KPI values are numbers; every line that carries KPIs carries its ``epoch``.
"""

from __future__ import annotations

import json
import math
import os
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

STARTED, RUNNING, SUCCESS, FAILURE = "STARTED", "RUNNING", "SUCCESS", "FAILURE"


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds, 3)))


def _number(value: Any) -> Any:
    value = float(value)
    return value if math.isfinite(value) else str(value)  # JSON has no NaN; keep it visible as text


class StatusFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def write(
        self,
        status: str,
        message: str,
        *,
        epoch: int | None = None,
        max_epoch: int | None = None,
        kpi: dict[str, float] | None = None,
        time_per_epoch: float | None = None,
        eta: float | None = None,
        verbosity: str = "INFO",
        **extra: Any,
    ) -> None:
        now = datetime.now()
        line: dict[str, Any] = {
            "date": now.strftime("%m/%d/%Y"),
            "time": now.strftime("%H:%M:%S"),
            "status": status,
            "verbosity": verbosity,
            "message": message,
        }
        if epoch is not None:
            line["epoch"] = epoch
        if max_epoch is not None:
            line["max_epoch"] = max_epoch
        if time_per_epoch is not None:
            line["time_per_epoch"] = _duration(time_per_epoch)
        if eta is not None:
            line["eta"] = _duration(eta)
        if kpi:
            line["kpi"] = {name: _number(value) for name, value in kpi.items()}
        line.update(extra)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        encoded = (json.dumps(line) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, encoded)
        finally:
            os.close(fd)


def describe_failure(err: BaseException) -> str:
    """``Type: first line of the message`` for a FAILURE line."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


@contextmanager
def failures_recorded(status: StatusFile, fields: Callable[[], dict[str, Any]] = dict) -> Iterator[StatusFile]:
    """Write a FAILURE line for any exception (SIGTERM included) leaving the block, then re-raise.

    ``fields`` is called at failure time, e.g. to record the epoch the run had reached.
    """
    try:
        yield status
    except BaseException as err:
        status.write(FAILURE, describe_failure(err), verbosity="ERROR", **fields())
        raise


def read_status(path: str | Path) -> list[dict[str, Any]]:
    """Every complete line of a status file (TAO's string KPI values are turned into numbers)."""
    lines = []
    try:
        text = Path(path).read_text()
    except OSError:
        return lines
    for raw in text.split("\n")[:-1]:
        try:
            entry = json.loads(raw)
        except json.JSONDecodeError:
            continue
        if isinstance(entry.get("kpi"), dict):
            entry["kpi"] = {k: _as_float(v) for k, v in entry["kpi"].items()}
        lines.append(entry)
    return lines


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")
