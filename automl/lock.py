"""``<results>/controller.json``: the controller (``automl launch`` or ``automl resume``) of a results
dir on this host, with its pid, start ticks and a heartbeat refreshed in a thread, so a second
controller of the same folder is refused while the first one lives. Workers that join a study
(``automl worker``) take no lock: the study's liveness is in its record (per-trial heartbeats).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from automl.errors import AutomlError
from automl.trial_process import same_process_alive, start_ticks
from studies.trial_record import HOST

HEARTBEAT_S = 5.0
STALE_S = 30.0
NAME = "controller.json"


class ControllerLock:
    def __init__(self, results_dir: str | Path) -> None:
        self.path = Path(results_dir) / NAME
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def holder(results_dir: str | Path) -> dict | None:
        """The live controller of a results dir on this host, or None (none, a dead one, another host's)."""
        try:
            data = json.loads((Path(results_dir) / NAME).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if data.get("host", HOST) != HOST:
            return None
        alive = same_process_alive(int(data.get("pid", -1)), data.get("start_ticks"))
        fresh = time.time() - float(data.get("heartbeat", 0)) < STALE_S
        return data if alive and fresh else None

    def _write(self) -> None:
        data = {"host": HOST, "pid": os.getpid(), "start_ticks": start_ticks(os.getpid()), "heartbeat": time.time()}
        staging = self.path.with_suffix(".tmp")
        staging.write_text(json.dumps(data))
        staging.replace(self.path)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self._write()

    def __enter__(self) -> "ControllerLock":
        holder = self.holder(self.path.parent)
        if holder is not None and holder.get("pid") != os.getpid():
            raise AutomlError(f"--results-dir {self.path.parent}: a controller (pid {holder['pid']}) is running this "
                              "study; stop it first, or add workers with `automl worker`")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write()
        self._thread = threading.Thread(target=self._beat, name="automl-controller-lock", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=1)
        self.path.unlink(missing_ok=True)
