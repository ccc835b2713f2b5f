"""The dashboard's plotly figures, one function per panel, each from the trials frame.

A function returns None when its panel has nothing to show (no completed trial yet, no
failure); the page says so instead. Plots that would hold one point per trial per epoch
sample the trials past ``MAX_CURVE_POINTS`` and draw every trial's spread as a band instead.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import optuna
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from schemas.spec import HELPER_MARK
from studies.trials import epoch_columns, param_columns

STATE_COLORS = {"COMPLETE": "#1f77b4", "PRUNED": "#ff7f0e", "FAIL": "#d62728", "RUNNING": "#2ca02c",
                "WAITING": "#7f7f7f"}
MAX_CURVE_POINTS = 20_000  # beyond this, curves are sampled and the band shows every trial
TOP_CURVES = 40  # the best trials' curves are always drawn
MIN_IMPORTANCE_TRIALS = 8
SLICE_PARAMS = 4
HEIGHT = 380
TEMPLATE = go.layout.Template(layout=pio.templates["plotly_white"].layout)  # its per-trace defaults cost 4x more


def layout(fig: go.Figure, title: str, height: int = HEIGHT, **extra: Any) -> go.Figure:
    settings = dict(margin=dict(l=60, r=20, t=64, b=50), legend=dict(orientation="h", y=-0.18)) | extra
    fig.update_layout(title=dict(text=title, x=0.01, font=dict(size=15)), template=TEMPLATE, height=height,
                      **settings)
    return fig


def short_names(keys: list[str]) -> dict[str, str]:
    """``train.optim.base_lr`` -> ``base_lr``, with more of the key where the short names would clash."""
    names = {}
    for key in keys:
        parts = key.split(".")
        for n in range(1, len(parts) + 1):
            name = ".".join(parts[-n:])
            if sum(k.split(".")[-n:] == parts[-n:] for k in keys) == 1:
                break
        names[key] = name
    return names


def completed(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of completed trials with a value."""
    return frame[(frame["state"] == "COMPLETE") & frame["value"].notna()]


def best_first(frame: pd.DataFrame, direction: str) -> pd.DataFrame:
    return frame.sort_values(["value", "number"], ascending=[direction != "maximize", True])


# --- history and curves ----------------------------------------------------------------------------

def history(frame: pd.DataFrame, metric: str, direction: str) -> go.Figure | None:
    done = completed(frame).sort_values("number")
    if done.empty:
        return None
    best = done["value"].cummax() if direction == "maximize" else done["value"].cummin()
    fig = go.Figure([
        go.Scatter(x=done["number"], y=done["value"], mode="markers", name="completed trial",
                   marker=dict(size=6, color=STATE_COLORS["COMPLETE"], opacity=0.6),
                   hovertemplate="trial %{x}<br>" + metric + " %{y:.4f}<extra></extra>"),
        go.Scatter(x=done["number"], y=best, mode="lines", line=dict(shape="hv", color="#d62728", width=2),
                   name="best so far", hovertemplate="best after trial %{x}: %{y:.4f}<extra></extra>"),
    ])
    return layout(fig, f"Best {metric} so far", xaxis_title="trial", yaxis_title=metric)


def _joined(rows: pd.DataFrame, matrix: np.ndarray, epochs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y, trial number of each point for one line trace, curves separated by gaps (NaN)."""
    if rows.empty:
        return np.array([]), np.array([]), np.array([])
    values = matrix[rows.index.to_numpy()]
    count = len(rows)
    x = np.concatenate([np.tile(epochs.astype(float), (count, 1)), np.full((count, 1), np.nan)], axis=1).ravel()
    y = np.concatenate([values, np.full((count, 1), np.nan)], axis=1).ravel()
    numbers = np.repeat(rows["number"].to_numpy(), len(epochs) + 1)
    keep = ~np.isnan(y) | np.isnan(x)  # drop missing epochs, keep the separators
    return x[keep], y[keep], numbers[keep]


def curves(frame: pd.DataFrame, metric: str, direction: str, seed: int = 0) -> go.Figure | None:
    """Every trial's intermediate ``metric`` per epoch; pruned trials end where they were stopped."""
    columns = epoch_columns(frame)
    if not columns:
        return None
    epochs = np.array(sorted(columns))
    table = frame.reset_index(drop=True)
    matrix = table[[columns[e] for e in epochs]].to_numpy(dtype=float)
    has = ~np.isnan(matrix).all(axis=1)
    table = table[has]
    total = int((~np.isnan(matrix)).sum())
    drawn, title = table, f"Intermediate {metric} per epoch ({len(table)} trials)"
    traces: list[go.BaseTraceType] = []
    if total > MAX_CURVE_POINTS:
        per_trial = total / max(len(table), 1)
        budget = int(MAX_CURVE_POINTS / per_trial)
        best_of = np.nanmax if direction == "maximize" else np.nanmin
        scored = table.assign(score=best_of(matrix[table.index.to_numpy()], axis=1))
        top = scored.sort_values("score", ascending=direction != "maximize").head(TOP_CURVES)
        running = table[table["state"] == "RUNNING"]
        rest = table.drop(index=top.index.union(running.index))
        extra = rest.sample(n=min(max(budget - len(top) - len(running), 0), len(rest)), random_state=seed)
        drawn = table.loc[top.index.union(running.index).union(extra.index)]
        title = (f"Intermediate {metric} per epoch: {len(drawn)} of {len(table)} trials drawn "
                 f"(the {len(top)} best and a sample); band: every trial")
        counted = (~np.isnan(matrix)).sum(axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            low, mid, high = np.nanpercentile(matrix[table.index.to_numpy()], [10, 50, 90], axis=0)
        shown = counted > 0
        traces += [
            go.Scatter(x=epochs[shown], y=high[shown], mode="lines", line=dict(width=0), showlegend=False,
                       hoverinfo="skip"),
            go.Scatter(x=epochs[shown], y=low[shown], mode="lines", line=dict(width=0), fill="tonexty",
                       fillcolor="rgba(31,119,180,0.15)", name="10-90% of all trials", hoverinfo="skip"),
            go.Scatter(x=epochs[shown], y=mid[shown], mode="lines", line=dict(color="#555", dash="dash", width=1.5),
                       name="median of all trials", hovertemplate="epoch %{x}: median %{y:.4f}<extra></extra>"),
        ]
    for state in ("COMPLETE", "PRUNED", "FAIL", "RUNNING"):
        x, y, numbers = _joined(drawn[drawn["state"] == state], matrix, epochs)
        if len(x):
            traces.append(go.Scatter(x=x, y=y, customdata=numbers, mode="lines", name=state.lower(),
                                     line=dict(color=STATE_COLORS[state], width=1), opacity=0.55,
                                     hovertemplate="trial %{customdata}<br>epoch %{x}: %{y:.4f}<extra></extra>"))
    pruned = table[table["state"] == "PRUNED"]
    if not pruned.empty:
        values = matrix[pruned.index.to_numpy()]
        last = np.array([np.flatnonzero(~np.isnan(row))[-1] for row in values])
        traces.append(go.Scatter(x=epochs[last], y=values[np.arange(len(last)), last], mode="markers",
                                 customdata=pruned["number"], name="pruned here",
                                 marker=dict(symbol="x", size=7, color=STATE_COLORS["PRUNED"]),
                                 hovertemplate="trial %{customdata} pruned after epoch %{x}: %{y:.4f}<extra></extra>"))
    return layout(go.Figure(traces), title, xaxis_title="epoch", yaxis_title=metric)


# --- parameters --------------------------------------------------------------------------------------

def log_scaled(trials: list[optuna.trial.FrozenTrial]) -> set[str]:
    """Parameters sampled on a log scale (by their Optuna distribution)."""
    found = set()
    for trial in trials:
        for name, dist in trial.distributions.items():
            if getattr(dist, "log", False):
                found.add(name)
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _as_text(value: Any) -> str:
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return "—" if pd.isna(value) else str(value)


def _unwrapped(series: pd.Series) -> pd.Series:
    """One-element lists (``lr_steps: [40]``) as their element, so they plot as numbers."""
    if series.map(lambda v: isinstance(v, (list, tuple)) and len(v) == 1).any() and \
            not series.map(lambda v: isinstance(v, (list, tuple)) and len(v) != 1).any():
        return series.map(lambda v: v[0] if isinstance(v, (list, tuple)) else v)
    return series


def _numeric(series: pd.Series) -> bool:
    values = series.dropna()
    return not values.empty and values.map(_is_number).all()


def parallel(frame: pd.DataFrame, metric: str, log_params: set[str]) -> go.Figure | None:
    done = completed(frame)
    params = param_columns(frame)
    if len(done) < 2 or not params:
        return None
    names = short_names(list(params))
    dims, left_out = [], []
    for key, column in params.items():
        series = _unwrapped(done[column])
        if series.isna().all():
            continue
        if _numeric(series):
            if series.isna().any():  # conditional parameters (set in some trials only)
                left_out.append(names[key])
                continue
            values = series.astype(float).to_numpy()
            if key in log_params and (values > 0).all():
                dims.append(dict(label=f"log10 {names[key]}", values=np.log10(values)))
            else:
                dims.append(dict(label=names[key], values=values))
        else:
            text = series.map(_as_text)
            categories = sorted(text.unique())
            codes = text.map({c: i for i, c in enumerate(categories)}).to_numpy()
            dims.append(dict(label=names[key], values=codes, tickvals=list(range(len(categories))),
                             ticktext=categories))
    dims.append(dict(label=metric, values=done["value"].to_numpy()))
    fig = go.Figure(go.Parcoords(dimensions=dims, line=dict(color=done["value"].to_numpy(), colorscale="Viridis",
                                                            showscale=True, colorbar=dict(title=metric))))
    title = f"Parameters of the {len(done)} completed trials"
    if left_out:
        title += f" (not set in every trial, left out: {', '.join(left_out)})"
    return layout(fig, title, height=440, margin=dict(l=70, r=70, t=90, b=30))


def importances(study: optuna.Study, completed: int, exclude: frozenset[str] = frozenset(),
                own: list[optuna.trial.FrozenTrial] | None = None) -> tuple[dict[str, float] | None, str]:
    """PED-ANOVA importances by spec key (helper params summed into their key; ``exclude``: params
    recorded only to be shown, copies of a helper's value), or None and why. ``own``: the study's
    own trials when its storage holds others too (a warm start's observations): only they count."""
    if completed < MIN_IMPORTANCE_TRIALS:
        return None, f"needs {MIN_IMPORTANCE_TRIALS} completed trials (has {completed})"
    if own is not None:
        study = optuna.create_study(directions=study.directions)
        study.add_trials([t for t in own if t.state == optuna.trial.TrialState.COMPLETE])
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    shared = set.intersection(*(set(t.params) for t in done)) - exclude if done else set()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.PedAnovaImportanceEvaluator(), params=sorted(shared) or None)
    except (ValueError, RuntimeError) as err:  # e.g. no parameter shared by the completed trials
        return None, str(err).splitlines()[0] if str(err) else type(err).__name__
    merged: dict[str, float] = {}
    for name, value in raw.items():
        key = name.split(HELPER_MARK, 1)[0]
        merged[key] = merged.get(key, 0.0) + float(value)
    if not merged:
        return None, "no parameter is shared by the completed trials"
    return dict(sorted(merged.items(), key=lambda item: -item[1])), ""


def importance_bars(values: dict[str, float], completed: int) -> go.Figure:
    keys = list(values)[::-1]
    fig = go.Figure(go.Bar(x=[values[k] for k in keys], y=keys, orientation="h", marker_color="#1f77b4",
                           hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    return layout(fig, f"Parameter importances<br><sup>PED-ANOVA over {completed} completed trials</sup>",
                   height=max(HEIGHT, 28 * len(keys) + 90), margin=dict(l=230, r=20, t=64, b=40),
                   xaxis_title="importance (sums to 1)")


def slices(frame: pd.DataFrame, keys: list[str], metric: str, log_params: set[str]) -> go.Figure | None:
    done = completed(frame)
    params = param_columns(frame)
    keys = [k for k in keys if k in params and done[params[k]].notna().any()][:SLICE_PARAMS]
    if done.empty or not keys:
        return None
    names = short_names(list(params))
    fig = make_subplots(rows=1, cols=len(keys), shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[names[k] for k in keys])
    for i, key in enumerate(keys, start=1):
        rows = done[done[params[key]].notna()]
        series = _unwrapped(rows[params[key]])
        numeric = _numeric(series)
        x = series.astype(float) if numeric else series.map(_as_text)
        fig.add_trace(go.Scatter(x=x, y=rows["value"], mode="markers", customdata=rows["number"], showlegend=False,
                                 marker=dict(size=6, color=rows["number"], colorscale=[[0, "#9ecae1"], [1, "#08306b"]],
                                             opacity=0.85,
                                             showscale=i == len(keys), colorbar=dict(title="trial")),
                                 hovertemplate="trial %{customdata}<br>%{x}<br>" + metric + " %{y:.4f}<extra></extra>"),
                      row=1, col=i)
        if key in log_params and numeric:
            fig.update_xaxes(type="log", row=1, col=i)
        elif not numeric:
            fig.update_xaxes(type="category", row=1, col=i)
    fig.update_yaxes(title_text=metric, row=1, col=1)
    return layout(fig, f"{metric} against the top {len(keys)} parameters")
