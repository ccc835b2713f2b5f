"""The Pareto front of a study's trials over several KPIs (accuracy against deployment cost).

A trial dominates another when it is at least as good on every objective and better on one. The
front is the COMPLETE trials that reported every objective and that no other such trial dominates,
best first by the first objective (equal values: the earlier trial). For a multi-objective study the
objectives are its metrics; for any study ``accuracy_cost_front`` is the front of its metric against
``latency_ms``: the best trial under any latency bound lies on it, so retention keeps its checkpoints
and ``automl best --constraint latency_ms<=X`` always finds the checkpoint it picks.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from studies.trial_record import TrialRecord

COST_KPI = "latency_ms"
Objective = tuple[str, str]  # (KPI, "maximize" | "minimize")


def _point(trial: TrialRecord, objectives: Sequence[Objective], metric: str) -> tuple[float, ...] | None:
    """The trial's objectives, each turned so that larger is better; None when one is missing."""
    values = []
    for name, direction in objectives:
        value = trial.kpi(name, metric)
        if value is None or value != value:
            return None
        values.append(value if direction == "maximize" else -value)
    return tuple(values)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` at least as good as ``b`` everywhere and better somewhere (larger is better)."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def pareto_front(trials: Iterable[TrialRecord], objectives: Sequence[Objective], metric: str) -> list[TrialRecord]:
    points = [(t, p) for t in trials if t.state == "COMPLETE" and (p := _point(t, objectives, metric)) is not None]
    front = [(t, p) for t, p in points if not any(dominates(q, p) for _, q in points)]
    return [t for t, p in sorted(front, key=lambda tp: (tuple(-v for v in tp[1]), tp[0].number))]


def accuracy_cost_front(trials: Iterable[TrialRecord], metric: str, direction: str) -> list[TrialRecord]:
    """The front of the study's metric against ``latency_ms`` (empty when no trial reported a latency)."""
    return pareto_front(trials, ((metric, direction), (COST_KPI, "minimize")), metric)


def study_objectives(metrics: Sequence[str], directions: Sequence[str]) -> list[Objective]:
    """A multi-objective study's objectives; for one metric, that metric against ``latency_ms``."""
    if len(metrics) > 1:
        return list(zip(metrics, directions))
    return [(metrics[0], directions[0]), (COST_KPI, "minimize")]


def front_rows(trials: Iterable[TrialRecord], objectives: Sequence[Objective], metric: str) -> list[dict]:
    """The front as rows: trial, each objective's value, the searched values."""
    return [{"trial": t.number, **{name: t.kpi(name, metric) for name, _ in objectives}, "params": t.config}
            for t in pareto_front(trials, objectives, metric)]
