"""The console view of a running study: trials done / running / pruned / failed, best so far, ETA.

A live ``rich`` table when stdout is a terminal; one plain line per event otherwise (CI, logs).
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table


@dataclass
class _Row:
    number: int
    state: str = "RUNNING"
    devices: str = ""
    epoch: int | None = None
    value: float | None = None
    note: str = ""
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None


class Progress:
    def __init__(self, total: int, metric: str, direction: str, parallel: int, live: bool | None = None) -> None:
        self.total, self.metric, self.direction, self.parallel = total, metric, direction, parallel
        self.rows: dict[int, _Row] = {}
        self.lock = threading.Lock()
        self.console = Console()
        self.live_enabled = sys.stdout.isatty() if live is None else live
        self._live: Live | None = None
        self.begun = time.monotonic()

    def __enter__(self) -> "Progress":
        if self.live_enabled:
            self._live = Live(self._table(), console=self.console, refresh_per_second=2, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(*exc)

    # --- events (called from the controller and trial threads) ------------------------------------

    def started(self, number: int, config: dict, lease: Any) -> None:
        devices = ",".join(lease.devices) or f"cpu x{lease.threads}"
        with self.lock:
            self.rows[number] = _Row(number, devices=devices)
        self._say(f"trial {number} started on {devices}: " + ", ".join(f"{k}={_short(v)}" for k, v in config.items()))

    def epoch(self, number: int, epoch: int, value: float) -> None:
        with self.lock:
            row = self.rows.setdefault(number, _Row(number))
            row.epoch, row.value = epoch, value
        self._refresh()

    def finished(self, number: int, state: str, value: float | None, note: str | None) -> None:
        with self.lock:
            row = self.rows.setdefault(number, _Row(number))
            row.state, row.note, row.ended = state, note or "", time.monotonic()
            if value is not None:
                row.value = value
        shown = f" {self.metric}={value:.4f}" if value is not None else ""
        self._say(f"trial {number} {state}{shown}{' (' + note + ')' if note else ''} | {self.summary()}")

    def message(self, text: str) -> None:
        self._say(text)

    # --- rendering ----------------------------------------------------------------------------------

    def summary(self) -> str:
        with self.lock:
            rows = list(self.rows.values())
        done = [r for r in rows if r.state != "RUNNING"]
        count = {s: sum(r.state == s for r in rows) for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")}
        best = self._best(rows)
        durations = [r.ended - r.started for r in done if r.ended]
        remaining = max(self.total - len(done), 0)
        eta = (sum(durations) / len(durations)) * remaining / max(self.parallel, 1) if durations else None
        text = (f"done {len(done)}/{self.total}, running {count['RUNNING']}, pruned {count['PRUNED']}, "
                f"failed {count['FAIL']}")
        if best is not None:
            text += f", best {self.metric}={best.value:.4f} (#{best.number})"
        if eta is not None and remaining:
            text += f", ETA {_duration(eta)}"
        return text

    def _best(self, rows: list[_Row]) -> _Row | None:
        complete = [r for r in rows if r.state == "COMPLETE" and r.value is not None]
        if not complete:
            return None
        return (max if self.direction == "maximize" else min)(complete, key=lambda r: r.value)

    def _table(self) -> Table:
        table = Table(title=self.summary(), expand=False)
        for column in ("trial", "state", "devices", "epoch", self.metric, "note"):
            table.add_column(column)
        with self.lock:
            rows = sorted(self.rows.values(), key=lambda r: r.number)[-20:]
        for row in rows:
            table.add_row(str(row.number), row.state, row.devices, "" if row.epoch is None else str(row.epoch),
                          "" if row.value is None else f"{row.value:.4f}", row.note[:60])
        return table

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._table())

    def _say(self, text: str) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.console.log(text)
        else:
            print(text, flush=True)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
