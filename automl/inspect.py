"""What ``automl status`` and ``automl best`` print: read from the study record only (no torch, no
trainer import), from any worker's results dir."""

from __future__ import annotations

from typing import Any

from automl.errors import AutomlError
from automl.resolver import best_trial, resolve_checkpoint
from studies.constraints import meeting, parse_constraints
from studies.pareto import front_rows, study_objectives
from studies.record import StudyRecord


def status(results_dir: str) -> dict[str, Any]:
    record = StudyRecord.of_results_dir(results_dir)
    trials = []
    for t in record.trials():
        epoch = record.best_epoch(t)
        checkpoint = record.path(t.checkpoints.get(epoch), t) if epoch is not None else None
        folder = record.path(t.folder, t)
        trials.append({
            "number": t.number, "state": t.state, "value": t.value, "params": t.config or t.params,
            "cuda_visible_devices": ",".join(d for d in t.devices if d != "cpu"), "host": t.host,
            "datetime_start": t.datetime_start.isoformat() if t.datetime_start else None,
            "datetime_complete": t.datetime_complete.isoformat() if t.datetime_complete else None,
            "results_dir": str(folder) if folder else None,
            "checkpoint": str(checkpoint) if checkpoint is not None and checkpoint.is_file() else None,
            "failure": t.failure, "origin": t.origin,
        })
    try:
        best = best_trial(record)
        best_info: dict[str, Any] | None = {"number": best.number, "value": best.value,
                                            "params": best.config or best.params}
    except AutomlError:
        best_info = None
    return {"study": record.name, "metric": record.metric, "direction": record.direction, "trials": trials,
            "best": best_info}


def reported_kpis(record: StudyRecord) -> tuple[str, ...]:
    """The KPI names the study's trials reported (the metric first)."""
    names = {name for t in record.trials() for name in t.kpis} - {record.metric}
    return (record.metric, *sorted(names))


def best(results_dir: str, action: str = "evaluate", latest: bool = False,
         constraints: tuple[str, ...] = ()) -> dict[str, Any]:
    """The best trial's checkpoint (meeting every ``constraints``: ``latency_ms<=5``, ...)."""
    record = StudyRecord.of_results_dir(results_dir)
    parsed = parse_constraints(constraints, reported_kpis(record))
    resolved = resolve_checkpoint(record, action=action, latest=latest, constraints=parsed).as_dict()
    if parsed:
        trial = record.trial(resolved["trial"])
        resolved["constraints"] = [str(c) for c in parsed]
        resolved["kpis"] = {c.kpi: trial.kpi(c.kpi, record.metric) for c in parsed}
    return resolved


def pareto(results_dir: str, constraints: tuple[str, ...] = ()) -> dict[str, Any]:
    """The Pareto front of the study's objectives (one metric: against ``latency_ms``), among the trials
    meeting ``constraints``."""
    record = StudyRecord.of_results_dir(results_dir)
    parsed = parse_constraints(constraints, reported_kpis(record))
    metrics = record.meta.metrics if record.meta else (record.metric,)
    directions = record.meta.directions if record.meta else (record.direction,)
    objectives = study_objectives(metrics, directions)
    rows = front_rows(meeting(record.trials(), parsed, record.metric), objectives, record.metric)
    if not rows:
        wanted = f" and met {' and '.join(map(str, parsed))}" if parsed else ""
        raise AutomlError(f"study {record.name}: no completed trial reported {' and '.join(n for n, _ in objectives)}"
                          f"{wanted}; no front")
    summary = record.summary or {}
    return {"study": record.name, "objectives": [list(o) for o in objectives], "front": rows,
            "handed_off": (summary.get("best") or {}).get("trial")}
