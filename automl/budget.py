"""A study's budgets, read off the record so that every worker applies the same ones:
``--budget-hours`` (device-hours across all trials, running ones included) and ``--timeout`` (wall
clock since the launch).

- No trial starts once the budget would be exceeded by a trial's estimate: the median of the
  completed trials (device-seconds for the hours, wall seconds for the timeout), before any the
  launch's throughput probe (none: the first trials start).
- A running trial stops at its next epoch boundary once a budget is spent; it is recorded COMPLETE
  with the epochs it trained and says so (``stopped_early``), its checkpoints kept.
- Then the study is finished as usual (handoff included), and the summary states each budget and
  what was used.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from studies.trial_record import TrialRecord


@dataclass(frozen=True)
class Budget:
    hours: float | None  # device-hours across every trial
    timeout_s: float | None  # wall clock since the launch
    started_at: float  # the launch (epoch seconds)
    estimate_s: float | None = None  # one trial's wall seconds, from the launch's probe

    @property
    def active(self) -> bool:
        return bool(self.hours or self.timeout_s)

    def used_hours(self, trials: list[TrialRecord], now: float | None = None) -> float:
        """Device-hours of the finished trials and, so far, of the running ones."""
        now = time.time() if now is None else now
        seconds = 0.0
        for trial in trials:
            if trial.state == "RUNNING" and trial.datetime_start is not None:
                lanes = max(len([d for d in trial.devices if d]), 1)
                seconds += max(now - trial.datetime_start.timestamp(), 0.0) * lanes
            else:
                seconds += float(trial.device_seconds or 0.0)
        return seconds / 3600

    def _estimate(self, trials: list[TrialRecord], field: str) -> float:
        done = [getattr(t, field) for t in trials if t.state == "COMPLETE" and getattr(t, field)]
        if done:
            return float(statistics.median(done))
        return float(self.estimate_s or 0.0)

    def spent(self, trials: list[TrialRecord], ahead: bool = False, now: float | None = None) -> str | None:
        """Why nothing more may run (``ahead``: why no further trial may start), else None."""
        now = time.time() if now is None else now
        if self.hours:
            used = self.used_hours(trials, now)
            more = self._estimate(trials, "device_seconds") / 3600 if ahead else 0.0
            if used + more >= self.hours:
                why = f" and one more trial would take about {more:.3g} h" if ahead and used < self.hours else ""
                return f"--budget-hours {self.hours:g}: {used:.3g} device-hours used{why}"
        if self.timeout_s:
            elapsed = now - self.started_at
            more = self._estimate(trials, "wall_seconds") if ahead else 0.0
            if elapsed + more >= self.timeout_s:
                why = f" and one more trial would take about {more:.0f} s" if ahead and elapsed < self.timeout_s else ""
                return f"--timeout {self.timeout_s:g}: {elapsed:.0f} s since the launch{why}"
        return None

    def report(self, trials: list[TrialRecord], reason: str | None) -> dict[str, Any]:
        """What the summary says of the budgets."""
        return {"budget_hours": self.hours, "timeout_s": self.timeout_s,
                "used_hours": round(self.used_hours(trials), 4),
                "elapsed_s": round(time.time() - self.started_at, 1),
                "started": datetime.fromtimestamp(self.started_at).isoformat(timespec="seconds"),
                "ended_by": reason}
