"""Constraints on a trial's KPIs (``latency_ms<=5``, ``cmc_rank_1>=0.8``) and the best trial that meets
them: the one rule ``automl best --constraint``, ``automl handoff --constraint`` and a launch's handoff
use.

A KPI is read off the trial's best-epoch model (``TrialRecord.kpi``: the study's metric is the trial's
value, any other KPI the trainer reported for that model, its deployment cost included). A trial that
did not report a constrained KPI does not meet the constraint. Among the COMPLETE trials that meet
every constraint the best is picked by the study's first metric (equal values: the earlier trial).
When none does, the error names the closest trial: the smallest total relative excess over the bounds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable

from studies.errors import RecordError
from studies.trial_record import TrialRecord, best_of

_FORM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(<=|>=)\s*([-+0-9.eE]+|[-+]?inf)\s*$")


@dataclass(frozen=True)
class Constraint:
    kpi: str
    op: str  # "<=" or ">="
    bound: float

    @classmethod
    def parse(cls, text: str, kpis: Iterable[str] | None = None) -> "Constraint":
        """``name<=number`` or ``name>=number``; ``kpis``: the names a trial can report (checked)."""
        match = _FORM.match(text)
        if not match:
            raise RecordError(f"--constraint {text!r}: expected KPI<=number or KPI>=number, e.g. latency_ms<=5")
        name, op, number = match.groups()
        try:
            bound = float(number)
        except ValueError:
            raise RecordError(f"--constraint {text!r}: {number!r} is not a number") from None
        known = tuple(kpis or ())
        if known and name not in known:
            raise RecordError(f"--constraint {text!r}: {name} is not a KPI the trainer reports "
                              f"({', '.join(known)})")
        return cls(name, op, bound)

    def __str__(self) -> str:
        return f"{self.kpi}{self.op}{self.bound:g}"

    def excess(self, trial: TrialRecord, metric: str) -> float:
        """How far the trial is beyond the bound, relative to it (0: met; inf: not reported)."""
        value = trial.kpi(self.kpi, metric)
        if value is None or value != value:
            return math.inf
        over = value - self.bound if self.op == "<=" else self.bound - value
        return max(over, 0.0) / max(abs(self.bound), 1e-12)

    def met_by(self, trial: TrialRecord, metric: str) -> bool:
        return self.excess(trial, metric) == 0.0


def parse_constraints(texts: Iterable[str] | None, kpis: Iterable[str] | None = None) -> tuple[Constraint, ...]:
    return tuple(Constraint.parse(text, kpis) for text in texts or ())


def meeting(trials: Iterable[TrialRecord], constraints: Iterable[Constraint], metric: str) -> list[TrialRecord]:
    """The trials that meet every constraint."""
    constraints = tuple(constraints)
    return [t for t in trials if all(c.met_by(t, metric) for c in constraints)]


def best_meeting(trials: Iterable[TrialRecord], constraints: Iterable[Constraint], metric: str,
                 direction: str) -> TrialRecord:
    """The best COMPLETE trial meeting every constraint; none: one line naming the closest trial."""
    trials, constraints = list(trials), tuple(constraints)
    best = best_of(meeting(trials, constraints, metric), direction)
    if best is not None:
        return best
    done = [t for t in trials if t.state == "COMPLETE"]
    wanted = " and ".join(map(str, constraints))
    if not done:
        raise RecordError(f"no completed trial yet, so none meets {wanted}")
    closest = min(done, key=lambda t: (sum(c.excess(t, metric) for c in constraints), t.number))
    shown = ", ".join(f"{c.kpi}={_number(closest.kpi(c.kpi, metric))}" for c in constraints)
    raise RecordError(f"no completed trial meets {wanted}; the closest is trial {closest.number} ({shown}, "
                      f"{metric}={_number(closest.value)})")


def _number(value: float | None) -> str:
    return "not reported" if value is None else f"{value:.4g}"
