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
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import plotly.io as pio
import plotly.offline

from automl.handoff import device_hours
from studies import figures
from studies.record import StudyRecord
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


def fingerprint(record: StudyRecord, trials: list[optuna.trial.FrozenTrial]) -> str:
    """Changes whenever what the page shows changes: trials, their epochs and states, the summary."""
    digest = hashlib.sha1()
    for trial in trials:
        digest.update(f"{trial.number}:{trial.state.name}:{len(trial.intermediate_values)};".encode())
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
            f"<tbody>{''.join(rows)}</tbody></table>{where}")


# --- the page ---------------------------------------------------------------------------------------

def _panels(record: StudyRecord, trials: list[optuna.trial.FrozenTrial], frame: pd.DataFrame) -> list[Panel]:
    metric, direction = record.metric, record.direction
    completed = len(figures.completed(frame))
    log_params = figures.log_scaled(trials)
    panels: list[Panel] = []
    summary = record.summary
    if summary is not None:
        panels.append(Panel("baseline", "Baseline against the best trial", figures.baseline_vs_best(summary),
                            "the summary holds no baseline evaluation", _baseline_table(summary), wide=True))
    panels.append(Panel("history", "Best so far", figures.history(frame, metric, direction), "no completed trial yet"))
    panels.append(Panel("curves", "Intermediate values", figures.curves(frame, metric, direction),
                        "no trial has reported an epoch yet"))
    panels.append(Panel("parallel", "Parallel coordinates", figures.parallel(frame, metric, log_params),
                        "needs two completed trials with parameters", wide=True))
    values, why = figures.importances(record.study, completed)
    panels.append(Panel("importances", "Parameter importances",
                        figures.importance_bars(values, completed) if values else None, why))
    if record.made_by_automl:  # a ReID study: its trials' status.json hold CMC KPIs
        panels.append(Panel("cmc", "CMC curves of the top trials", figures.cmc_curves(frame, direction, metric),
                            "no CMC KPIs in the top trials' status.json yet"))
    top = list(values) if values else list(param_columns(frame))
    panels.append(Panel("slices", "Slices", figures.slices(frame, top, metric, log_params),
                        "no completed trial with parameters yet", wide=True))
    panels.append(Panel("timeline", "Device timeline", figures.timeline(frame, pd.Timestamp(datetime.now())),
                        "no trial has started yet", wide=True))
    groups = figures.failure_groups(frame)
    panels.append(Panel("failures", "Failures by cause", figures.failures(groups), "no failed trial",
                        _failure_list(groups) if groups else "", wide=True))
    return panels


def _header(record: StudyRecord, frame: pd.DataFrame, live: bool) -> str:
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
    hours = device_hours(record.study, record.max_epochs or 0)
    if hours["used"]:
        cards.append(("device-hours used", f"{hours['used']:.2f}", f"saved by pruning: {hours['saved_by_pruning']:.2f}"))
    card_html = "".join(f"<div class=card><div class=label>{html.escape(label)}</div><div class=big>{big}</div>"
                        f"<div class=sub>{sub}</div></div>" for label, big, sub in cards)
    kind = "automl study" if record.made_by_automl else "Optuna study"
    badge = '<span id="live" class="live">live</span>' if live else ""
    return (f"<header><h1>{html.escape(record.name)} {badge}</h1>"
            f"<p class=muted>{kind}, {html.escape(record.direction)} {html.escape(record.metric)}"
            f" &middot; {html.escape(record.storage_url)} &middot; updated {datetime.now():%Y-%m-%d %H:%M:%S}</p>"
            f"<div class=cards>{card_html}</div></header>")


def render_dashboard(record: StudyRecord, live: bool = False,
                     trials: list[optuna.trial.FrozenTrial] | None = None) -> str:
    """The page of a study; ``live``: it reloads itself as a file (served pages always poll)."""
    trials = record.study.get_trials(deepcopy=False) if trials is None else trials
    frame = frame_of(record, trials)
    stamp = fingerprint(record, trials)
    body, specs = [], []
    if frame.empty:
        header = f"<header><h1>{html.escape(record.name)}</h1></header>"
        body.append(f"<section class=\"panel wide empty\"><h2>No trials yet</h2><p>Study <b>{html.escape(record.name)}"
                    f"</b> in {html.escape(record.storage_url)} has no trials. This page updates when trials finish."
                    "</p></section>")
    else:
        header = _header(record, frame, live)
        for panel in _panels(record, trials, frame):
            inner = f'<div id="plot-{panel.key}" class="plot"></div>' if panel.figure is not None else \
                f"<h2>{html.escape(panel.title)}</h2><p class=muted>{html.escape(panel.empty)}</p>"
            body.append(f'<section class="panel{" wide" if panel.wide else ""}" id="panel-{panel.key}">'
                        f"{inner}{panel.html}</section>")
            if panel.figure is not None:
                specs.append(f'{{"id":"plot-{panel.key}","figure":{pio.to_json(panel.figure, validate=False)}}}')
        body.append(f'<section class="panel wide" id="panel-table"><h2>Trials</h2><p class=muted>Click a column to '
                    f"sort.</p><div class=scroll>{trial_table(frame, record.metric)}</div></section>")
    data = ("[" + ",".join(specs) + "]").replace("<", "\\u003c")
    return _PAGE.format(
        title=html.escape(f"{record.name}: study dashboard"), style=_STYLE, plotly=_plotly_js(),
        header=header, body="\n".join(body), figures=data, stamp=stamp, live="true" if live else "false",
        script=_SCRIPT.replace("POLL_MS", str(POLL_S * 1000)).replace("FILE_REFRESH_MS", str(FILE_REFRESH_S * 1000)),
        count=len(specs))


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


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f5f7;color:#222}
header{background:#fff;padding:14px 24px;border-bottom:1px solid #ddd}
h1{margin:0 0 4px;font-size:22px} h2{font-size:15px;margin:4px 0 8px}
.muted{color:#666;font-size:13px;margin:2px 0}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-top:10px}
.card{background:#f8f9fb;border:1px solid #e2e4e8;border-radius:6px;padding:8px 14px;min-width:170px}
.card .label{font-size:12px;color:#666}.card .big{font-size:22px;font-weight:600}.card .sub{font-size:12px;color:#444}
.chip{display:inline-block;border-radius:9px;padding:0 7px;margin:2px 2px 0 0;font-size:12px;color:#fff}
.live{font-size:12px;background:#2ca02c;color:#fff;border-radius:9px;padding:2px 8px;vertical-align:middle;cursor:pointer}
.live.paused{background:#999}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:14px;padding:14px 24px}
.panel{background:#fff;border:1px solid #e2e4e8;border-radius:6px;padding:8px;min-width:0}
.panel.wide{grid-column:1/-1}.empty{padding:30px}
.plot{width:100%;min-height:260px}
.scroll{max-height:620px;overflow:auto}
table{border-collapse:collapse;font-size:12px}
table.trials th{position:sticky;top:0;background:#eef0f3;cursor:pointer;white-space:nowrap}
th,td{border-bottom:1px solid #eee;padding:3px 8px;text-align:left;white-space:nowrap}
th.asc:after{content:" \\25B2"} th.desc:after{content:" \\25BC"}
table.small{margin:6px 12px} td.up{color:#1a7f37} td.down{color:#c62828}
.s-complete{background:#1f77b4}.s-pruned{background:#ff7f0e}.s-fail{background:#d62728}
.s-running{background:#2ca02c}.s-waiting{background:#7f7f7f}
td.s-complete,td.s-pruned,td.s-fail,td.s-running,td.s-waiting{color:#fff}
ul.failures{font-size:13px;margin:6px 0 4px 0}
"""

_SCRIPT = """
(function () {
  var body = document.body, live = body.dataset.live === "true";
  var specs = JSON.parse(document.getElementById("figures").textContent);
  var config = {responsive: true, displaylogo: false};
  var timings = window.dashboardTimings = {};  // milliseconds each plot took to draw
  var drawn = specs.map(function (s) {
    var started = performance.now();
    return Plotly.newPlot(s.id, s.figure.data, s.figure.layout, config).then(function (plot) {
      timings[s.id] = Math.round(performance.now() - started);
      return plot;
    });
  });
  Promise.all(drawn).then(function () {
    body.dataset.plotsDrawn = String(drawn.length);
    window.dashboardReadyMs = performance.now();
    window.dashboardReady = true;
  });

  var table = document.getElementById("trials");
  function key(cell) {
    return cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent;
  }
  function compare(a, b) {
    if (a === "" || b === "") return a === b ? 0 : (a === "" ? 1 : -1);
    var x = Number(a), y = Number(b);
    if (!isNaN(x) && !isNaN(y)) return x - y;
    return a < b ? -1 : (a > b ? 1 : 0);
  }
  function sortBy(index, descending) {
    var tbody = table.tBodies[0], rows = Array.prototype.slice.call(tbody.rows);
    rows.sort(function (r, s) {
      var a = key(r.cells[index]), b = key(s.cells[index]), c = compare(a, b);
      if (a === "" || b === "") return c;
      return descending ? -c : c;
    });
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) heads[i].className = "";
    heads[index].className = descending ? "desc" : "asc";
    var fragment = document.createDocumentFragment();
    rows.forEach(function (r) { fragment.appendChild(r); });
    tbody.appendChild(fragment);
    sessionStorage.setItem("dashboard-sort", JSON.stringify([index, descending]));
  }
  if (table) {
    table.tHead.addEventListener("click", function (event) {
      var th = event.target.closest("th");
      if (th) sortBy(th.cellIndex, th.className === "asc");
    });
    var saved = JSON.parse(sessionStorage.getItem("dashboard-sort") || "null");
    if (saved && saved[0] < table.tHead.rows[0].cells.length) sortBy(saved[0], saved[1]);
  }

  var y = Number(sessionStorage.getItem("dashboard-scroll") || 0);
  if (y) window.scrollTo(0, y);
  var badge = document.getElementById("live"), paused = false;
  if (badge) badge.addEventListener("click", function () {
    paused = !paused;
    badge.className = paused ? "live paused" : "live";
    badge.textContent = paused ? "live (paused)" : "live";
  });
  function reload() {
    sessionStorage.setItem("dashboard-scroll", String(window.scrollY));
    location.reload();
  }
  if (location.protocol === "http:" || location.protocol === "https:") {
    setInterval(function () {
      if (paused) return;
      fetch(location.href, {method: "HEAD", cache: "no-store"}).then(function (r) {
        var tag = (r.headers.get("ETag") || "").replace(/"/g, "");
        if (tag && tag !== body.dataset.stamp) reload();
      }).catch(function () {});
    }, POLL_MS);
  } else if (live) {
    setInterval(function () { if (!paused) reload(); }, FILE_REFRESH_MS);
  }
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; \
style-src 'unsafe-inline'; img-src data: blob:; font-src data:; connect-src 'self'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
<script>{plotly}</script>
</head>
<body data-live="{live}" data-stamp="{stamp}" data-plots="{count}">
{header}
<main>
{body}
</main>
<script type="application/json" id="figures">{figures}</script>
<script>{script}</script>
</body></html>
"""
