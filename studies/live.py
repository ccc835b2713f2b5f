"""The dashboard of a running study, refreshed without holding up the study.

``refresh_dashboard(record)`` is what the controller calls after each finished trial (the page is
``<results>/dashboard.html`` of the record's results dir): it only records the request and returns. One worker thread per page renders the latest
request, and waits after each render long enough that rendering takes at most ``RENDER_SHARE``
of the time (requests that arrive meanwhile make one render). ``live=False`` (the study's last
trial) renders now, in the caller, after any render in progress, and the page stops reloading
itself. A failing render logs one warning (until a render works again) and never raises.

This module imports nothing heavy: the controller pays for plotly and pandas only in the worker.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
RENDER_SHARE = 0.1
DASHBOARD_NAME = "dashboard.html"


class _Refresher:
    def __init__(self, out: Path) -> None:
        self.out = out
        self._lock = threading.Condition()
        self._request: Any = None
        self._rendering = False
        self._next_at = 0.0
        self._failing = False
        self.renders = 0
        threading.Thread(target=self._loop, name=f"dashboard {out}", daemon=True).start()

    def request(self, record: Any) -> None:
        with self._lock:
            self._request = record
            self._lock.notify_all()

    def finish(self, record: Any) -> None:
        with self._lock:
            self._request = None
            while self._rendering:
                self._lock.wait()
            self._rendering = True
        try:
            self._render(record, live=False)
        finally:
            with self._lock:
                self._rendering = False
                self._lock.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Until no request waits and no render runs; False after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._request is not None or self._rendering:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    def _loop(self) -> None:
        while True:
            with self._lock:
                while self._request is None or self._rendering:
                    self._lock.wait()
                delay = self._next_at - time.monotonic()
                if delay > 0:
                    self._lock.wait(delay)  # a newer request may come meanwhile: the latest one is rendered
                    continue
                record = self._request
                self._request = None
                self._rendering = True
            try:
                self._render(record, live=True)
            finally:
                with self._lock:
                    self._rendering = False
                    self._lock.notify_all()

    def _render(self, record: Any, live: bool) -> None:
        started = time.monotonic()
        try:
            # plotly and pandas: paid in this thread, never by the controller
            from studies.dashboard import write_dashboard

            write_dashboard(record, self.out, live)
        except Exception as err:  # the study matters more than its page
            if not self._failing:
                text = str(err).splitlines()[0] if str(err) else ""
                log.warning("dashboard %s not refreshed: %s: %s", self.out, type(err).__name__, text)
            self._failing = True
            return
        finally:
            ended = time.monotonic()
            self._next_at = ended + (ended - started) * (1 / RENDER_SHARE - 1)
        self._failing = False
        self.renders += 1


_refreshers: dict[Path, _Refresher] = {}
_registry_lock = threading.Lock()


def _refresher(results_dir: str | Path) -> _Refresher:
    out = Path(results_dir).resolve() / DASHBOARD_NAME
    with _registry_lock:
        if out not in _refreshers:
            _refreshers[out] = _Refresher(out)
        return _refreshers[out]


def refresh_dashboard(record: Any, live: bool = True) -> None:
    """Refresh ``<results>/dashboard.html`` of a running study's ``StudyRecord``; never raises."""
    try:
        refresher = _refresher(record.results_dir)
        if live:
            refresher.request(record)
        else:
            refresher.finish(record)
    except Exception as err:  # e.g. no thread can be started: the study goes on
        log.warning("dashboard of %s not refreshed: %s: %s", record.results_dir, type(err).__name__, err)


def wait_for_refresh(results_dir: str | Path, timeout: float = 60) -> bool:
    """Wait until the page of ``results_dir`` has no refresh pending (for tests and tools)."""
    return _refresher(results_dir).wait_idle(timeout)
