"""The dashboard: one self-contained HTML file per study (plotly.js embedded once, no network).

``render_dashboard(record)`` returns the page; ``write_dashboard`` writes it atomically (a
reader never sees half a file). ``studies.live`` refreshes it while a study runs.

The page: a header (trials by state, best trial, device-hours used and saved by pruning), the
baseline against the best trial on the test split (after the handoff), best-so-far history,
intermediate curves, parallel coordinates, importances, CMC curves of the top trials, slices,
a device timeline, failures by cause and a sortable trial table. While the study runs it
reloads itself: served (``--serve``) when the server's ETag says the study changed, as a file
every ``FILE_REFRESH_S`` seconds. After all plots are drawn it sets ``window.dashboardReady``.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import optuna
import pandas as pd
import plotly.io as pio
import plotly.offline

from studies import figures, run_figures
from studies.pareto import pareto_front
from studies.record import StudyRecord
from studies.trial_record import TrialRecord
from studies.trials import frame_of, param_columns

FILE_REFRESH_S = 15
POLL_S = 5
TABLE_COLUMNS = (("number", "#"), ("state", "state"), ("value", None), ("epochs_done", "epochs"),
                 ("best_epoch", "best epoch"), ("duration_s", "duration"), ("devices", "devices"),
                 ("origin", "origin"), ("failure", "failure"), ("checkpoint", "checkpoint"))


@dataclass
class Panel:
    key: str
    title: str
    figure: Any  # plotly Figure, or None: the panel shows ``empty`` instead
    empty: str = ""
    html: str = ""
    wide: bool = False


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    return plotly.offline.get_plotlyjs()


@lru_cache(maxsize=1)
def _page() -> Template:
    """The page around the panels (HTML, CSS and script): ``studies/page/dashboard.html``."""
    return Template(resources.files("studies").joinpath("page", "dashboard.html").read_text(encoding="utf-8"))


def fingerprint(record: StudyRecord, trials: list[TrialRecord]) -> str:
    """Changes whenever what the page shows changes: trials, their epochs and states, the summary."""
    digest = hashlib.sha1()
    for trial in trials:
        digest.update(f"{trial.number}:{trial.state}:{len(trial.epochs)};".encode())
    if record.results_dir is not None:
        summary = record.results_dir / "summary.json"
        digest.update(str(summary.stat().st_mtime_ns if summary.exists() else 0).encode())
    return digest.hexdigest()[:16]


# --- formatting -----------------------------------------------------------------------------------

def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def _duration(seconds: Any) -> str:
    if seconds is None or pd.isna(seconds):
        return ""
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _cell(value: Any, shown: str | None = None, title: str | None = None) -> str:
    missing = value is None or value is pd.NA or (isinstance(value, float) and value != value)
    text = "" if missing else (shown if shown is not None else _number(value))
    sort = "" if missing else (json.dumps(value) if isinstance(value, (list, dict)) else str(value))
    attrs = f' data-v="{html.escape(sort)}"' if sort != text else ""
    if title:
        attrs += f' title="{html.escape(title)}"'
    return f"<td{attrs}>{html.escape(text)}</td>"


def trial_table(frame: pd.DataFrame, metric: str) -> str:
    params = param_columns(frame)
    names = figures.short_names(list(params))
    heads = [label or metric for _, label in TABLE_COLUMNS] + [names[k] for k in params]
    head = "".join(f'<th title="{html.escape(k)}">{html.escape(h)}</th>'
                   for k, h in zip([c for c, _ in TABLE_COLUMNS] + list(params), heads))
    rows = []
    for row in frame.to_dict("records"):
        cells = [
            _cell(row["number"]), f'<td class="s-{row["state"].lower()}">{row["state"]}</td>', _cell(row["value"]),
            _cell(row["epochs_done"]), _cell(row["best_epoch"]),
            _cell(row["duration_s"], _duration(row["duration_s"])), _cell(row["devices"]), _cell(row["origin"]),
            _cell(row["failure"], (row["failure"] or "")[:80] if isinstance(row["failure"], str) else None,
                  row["failure"] if isinstance(row["failure"], str) else None),
            _cell(row["checkpoint"], Path(row["checkpoint"]).name if isinstance(row["checkpoint"], str) else None,
                  row["checkpoint"] if isinstance(row["checkpoint"], str) else None),
        ]
        for column in params.values():
            value = row[column]
            cells.append(_cell(value, json.dumps(value) if isinstance(value, (list, dict)) else None))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table id="trials" class="trials"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _failure_list(groups: dict[str, list[int]]) -> str:
    items = "".join(f"<li><b>{len(n)}</b> &times; {html.escape(cause)} <span class=muted>(trials "
                    f"{', '.join(map(str, n[:50]))}{' ...' if len(n) > 50 else ''})</span></li>"
                    for cause, n in groups.items())
    return f"<ul class=failures>{items}</ul>"


def _baseline_table(summary: dict[str, Any]) -> str:
    best = summary.get("test_evaluation") or {}
    baseline = (summary.get("baseline") or {}).get("test_evaluation") or {}
    rows = []
    for name in [k for k in best if k in baseline]:
        try:
            delta = float(best[name]) - float(baseline[name])
        except (TypeError, ValueError):
            continue
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{_number(float(baseline[name]))}</td>"
                    f"<td>{_number(float(best[name]))}</td><td class={'up' if delta >= 0 else 'down'}>"
                    f"{delta:+.4f}</td></tr>")
    checkpoint = (summary.get("best") or {}).get("checkpoint")
    where = f"<p class=muted>best checkpoint: {html.escape(str(checkpoint))}</p>" if checkpoint else ""
    return (f"<table class=small><thead><tr><th>KPI</th><th>baseline</th><th>best</th><th>change</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>{where}{_re_ranking_note(summary)}")


def _re_ranking_note(summary: dict[str, Any]) -> str:
    """The tuned re-ranking: its values (chosen on validation) and the test KPIs without and with it."""
    entry = summary.get("re_ranking") or {}
    chosen, with_it = entry.get("chosen") or {}, entry.get("test_with") or {}
    without = summary.get("test_evaluation") or {}
    if not chosen.get("re_ranking"):
        return ""
    changes = ", ".join(f"{html.escape(name)} {_number(float(without[name]))} &rarr; {_number(float(with_it[name]))}"
                        for name in ("mAP", "cmc_rank_1") if name in with_it and name in without)
    return (f"<p id=re_ranking>best with tuned re-ranking (k1={chosen['k1']}, k2={chosen['k2']}, "
            f"lambda_value={chosen['lambda_value']}, chosen on validation): {changes}</p>")


# --- the page ---------------------------------------------------------------------------------------

def _panels(record: StudyRecord, frozen: list[optuna.trial.FrozenTrial], trials: list[TrialRecord],
            frame: pd.DataFrame) -> list[Panel]:
    metric, direction = record.metric, record.direction
    completed = len(figures.completed(frame))
    log_params = figures.log_scaled(frozen)
    panels: list[Panel] = []
    summary = record.summary
    if summary is not None:
        panels.append(Panel("baseline", "Baseline against the best trial", run_figures.baseline_vs_best(summary),
                            "the summary holds no baseline evaluation", _baseline_table(summary), wide=True))
    panels.append(Panel("history", "Best so far", figures.history(frame, metric, direction), "no completed trial yet"))
    panels.append(Panel("curves", "Intermediate values", figures.curves(frame, metric, direction),
                        "no trial has reported an epoch yet"))
    panels.append(Panel("parallel", "Parallel coordinates", figures.parallel(frame, metric, log_params),
                        "needs two completed trials with parameters", wide=True))
    if record.meta is not None and record.meta.multi_objective:
        objectives = list(zip(record.meta.metrics, record.meta.directions))
        front = pareto_front(trials, objectives, metric)
        chosen = (summary or {}).get("best", {}).get("trial")
        chosen = chosen if chosen is not None else (front[0].number if front else None)
        panels.append(Panel("pareto", "Pareto front", run_figures.pareto(trials, objectives, metric, front, chosen),
                            "no completed trial reported every objective yet", wide=True))
    shown = frozenset(name for t in trials for name in t.shown)
    own = frozen if record.meta and record.meta.warm_start else None  # a warm start's observations left out
    values, why = figures.importances(record.study, completed, shown, own)
    panels.append(Panel("importances", "Parameter importances",
                        figures.importance_bars(values, completed) if values else None, why))
    if record.made_by_automl:  # a ReID study: its trials record CMC curves
        curves = {t.number: t.cmc for t in trials if t.cmc}
        panels.append(Panel("cmc", "CMC curves of the top trials", run_figures.cmc_curves(frame, direction, curves),
                            "no CMC curve recorded by the top trials yet"))
    top = list(values) if values else list(param_columns(frame))
    panels.append(Panel("slices", "Slices", figures.slices(frame, top, metric, log_params),
                        "no completed trial with parameters yet", wide=True))
    panels.append(Panel("timeline", "Device timeline", run_figures.timeline(frame, pd.Timestamp(datetime.now())),
                        "no trial has started yet", wide=True))
    groups = run_figures.failure_groups(frame)
    panels.append(Panel("failures", "Failures by cause", run_figures.failures(groups), "no failed trial",
                        _failure_list(groups) if groups else "", wide=True))
    return panels


def _header(record: StudyRecord, trials: list[TrialRecord], frame: pd.DataFrame, live: bool) -> str:
    counts = frame["state"].value_counts().to_dict()
    states = " ".join(f'<span class="chip s-{s.lower()}">{s.lower()} {counts[s]}</span>'
                      for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING") if counts.get(s))
    done = figures.completed(frame)
    cards = [("trials", f"{len(frame)}", states)]
    if not done.empty:
        best = figures.best_first(done, record.direction).iloc[0]
        epoch = "" if pd.isna(best["best_epoch"]) else f", epoch {best['best_epoch']}"
        where = html.escape(Path(best["checkpoint"]).name) if isinstance(best["checkpoint"], str) else ""
        cards.append((f"best {record.metric}", _number(best["value"]), f"trial {best['number']}{epoch} {where}"))
        noise = record.selection_noise(trials)
        if noise is not None:
            low_high = f"{_number(noise.interval[0])} to {_number(noise.interval[1])}" if noise.interval else "-"
            within = (f"runner-up trial {noise.runner_up} is within noise" if noise.within_noise
                      else f"on {noise.queries} validation queries")
            cards.append(("95% interval of the best", low_high, html.escape(within)))
    hours = record.device_hours(trials)
    if hours["used"]:
        cards.append(("device-hours used", f"{hours['used']:.2f}", f"saved by pruning: {hours['saved_by_pruning']:.2f}"))
    card_html = "".join(f"<div class=card><div class=label>{html.escape(label)}</div><div class=big>{big}</div>"
                        f"<div class=sub>{sub}</div></div>" for label, big, sub in cards)
    kind = "automl study" if record.made_by_automl else "Optuna study"
    badge = '<span id="live" class="live">live</span>' if live else ""
    return (f"<header><h1>{html.escape(record.name)} {badge}</h1>"
            f"<p class=muted>{kind}, {html.escape(record.direction)} {html.escape(record.metric)}"
            f" &middot; {html.escape(record.masked_url)} &middot; updated {datetime.now():%Y-%m-%d %H:%M:%S}</p>"
            f"<div class=cards>{card_html}</div></header>")


def render_dashboard(record: StudyRecord, live: bool = False,
                     frozen: list[optuna.trial.FrozenTrial] | None = None) -> str:
    """The page of a study; ``live``: it reloads itself as a file (served pages always poll).
    ``frozen``: the study's trials already read (to read them once)."""
    frozen = record.frozen() if frozen is None else frozen
    trials = record.trials(frozen)
    frame = frame_of(record, trials)
    stamp = fingerprint(record, trials)
    body, specs = [], []
    if frame.empty:
        header = f"<header><h1>{html.escape(record.name)}</h1></header>"
        body.append(f"<section class=\"panel wide empty\"><h2>No trials yet</h2><p>Study <b>{html.escape(record.name)}"
                    f"</b> in {html.escape(record.masked_url)} has no trials. This page updates when trials finish."
                    "</p></section>")
    else:
        header = _header(record, trials, frame, live)
        for panel in _panels(record, frozen, trials, frame):
            inner = f'<div id="plot-{panel.key}" class="plot"></div>' if panel.figure is not None else \
                f"<h2>{html.escape(panel.title)}</h2><p class=muted>{html.escape(panel.empty)}</p>"
            body.append(f'<section class="panel{" wide" if panel.wide else ""}" id="panel-{panel.key}">'
                        f"{inner}{panel.html}</section>")
            if panel.figure is not None:
                specs.append(f'{{"id":"plot-{panel.key}","figure":{pio.to_json(panel.figure, validate=False)}}}')
        body.append(f'<section class="panel wide" id="panel-table"><h2>Trials</h2><p class=muted>Click a column to '
                    f"sort.</p><div class=scroll>{trial_table(frame, record.metric)}</div></section>")
    data = ("[" + ",".join(specs) + "]").replace("<", "\\u003c")
    return _page().substitute(
        title=html.escape(f"{record.name}: study dashboard"), plotly=_plotly_js(), header=header,
        body="\n".join(body), figures=data, stamp=stamp, live="true" if live else "false", count=len(specs),
        poll_ms=POLL_S * 1000, file_refresh_ms=FILE_REFRESH_S * 1000)


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp", delete=False)
    try:
        with handle:
            handle.write(text)
        os.chmod(handle.name, 0o644)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def write_dashboard(record: StudyRecord, out: str | Path, live: bool = False) -> Path:
    out = Path(out)
    write_atomically(out, render_dashboard(record, live))
    return out
