"""The dashboard's figures of how the trials ran: failures by cause, the device timeline, CMC curves
of the top trials and, after the handoff, the baseline against the best trial on the test split.
Each function returns None when its panel has nothing to show.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from studies.figures import HEIGHT, STATE_COLORS, best_first, completed, layout

CMC_TRIALS = 5
TEST_KPIS = ("cmc_rank_1", "cmc_rank_5", "cmc_rank_10", "mAP", "mINP")


# --- failures, devices --------------------------------------------------------------------------------

def failure_groups(frame: pd.DataFrame) -> dict[str, list[int]]:
    """Failure cause -> trial numbers, most frequent first."""
    failed = frame[frame["state"] == "FAIL"]
    groups: dict[str, list[int]] = {}
    for number, cause in zip(failed["number"], failed["failure"]):
        groups.setdefault(cause if isinstance(cause, str) and cause else "unknown (no cause recorded)",
                          []).append(int(number))
    return dict(sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])))


def failures(groups: dict[str, list[int]]) -> go.Figure | None:
    if not groups:
        return None
    causes = list(groups)[::-1]
    labels = [c if len(c) <= 60 else c[:57] + "..." for c in causes]
    numbers = [", ".join(map(str, groups[c][:30])) + (" ..." if len(groups[c]) > 30 else "") for c in causes]
    fig = go.Figure(go.Bar(x=[len(groups[c]) for c in causes], y=labels, orientation="h", customdata=numbers,
                           hovertext=causes, marker_color=STATE_COLORS["FAIL"],
                           hovertemplate="%{hovertext}<br>%{x} trial(s): %{customdata}<extra></extra>"))
    return layout(fig, f"Failed trials by cause ({sum(map(len, groups.values()))})",
                   height=max(260, 40 * len(causes) + 110), margin=dict(l=380, r=20, t=64, b=40),
                   xaxis_title="trials")


def _lanes(spans: list[tuple[str, pd.Timestamp, pd.Timestamp, int]]) -> list[str]:
    """A lane per device; trials that overlap on one device label (CPU slots) get lanes of their own."""
    slots_of: list[int] = [0] * len(spans)
    ends: dict[str, list[pd.Timestamp]] = {}
    for i in sorted(range(len(spans)), key=lambda i: spans[i][1]):
        device, start, end, _ = spans[i]
        slots = ends.setdefault(device, [])
        slot = next((s for s, free in enumerate(slots) if free <= start), len(slots))
        if slot == len(slots):
            slots.append(end)
        slots[slot] = end
        slots_of[i] = slot
    many = {device for device, slots in ends.items() if len(slots) > 1}
    return [f"{span[0]} #{slot + 1}" if span[0] in many else span[0] for span, slot in zip(spans, slots_of)]


def timeline(frame: pd.DataFrame, now: pd.Timestamp) -> go.Figure | None:
    """Which trial ran on which device when."""
    rows = frame[frame["datetime_start"].notna()]
    if rows.empty:
        return None
    spans, info = [], []
    for row in rows.itertuples(index=False):
        end = row.datetime_complete if not pd.isna(row.datetime_complete) else now
        devices = row.devices.split(",") if isinstance(row.devices, str) and row.devices else ["trial"]
        for device in devices:
            label = device if device in ("cpu", "trial") else f"GPU {device}"
            spans.append((label, row.datetime_start, end, row.number))
            info.append(row)
    lanes = _lanes(spans)
    order = sorted(set(lanes), key=lambda lane: (lane.split(" #")[0], int(lane.split(" #")[1]) if " #" in lane else 0),
                   reverse=True)
    traces = []
    for state, color in STATE_COLORS.items():
        picked = [i for i, row in enumerate(info) if row.state == state]
        if not picked:
            continue
        starts = [spans[i][1] for i in picked]
        traces.append(go.Bar(
            base=[s.isoformat() for s in starts], x=[(spans[i][2] - spans[i][1]).total_seconds() * 1000 for i in picked],
            y=[lanes[i] for i in picked], orientation="h", name=state.lower(), marker_color=color,
            text=[f"#{spans[i][3]}" for i in picked], textposition="inside", insidetextanchor="middle",
            customdata=[[spans[i][3], "" if pd.isna(info[i].value) else f"{info[i].value:.4f}",
                         f"{(spans[i][2] - spans[i][1]).total_seconds() / 60:.1f}"] for i in picked],
            hovertemplate="trial %{customdata[0]} on %{y}<br>%{customdata[2]} min<br>value %{customdata[1]}"
                          "<extra></extra>"))
    fig = go.Figure(traces)
    fig.update_yaxes(categoryorder="array", categoryarray=order)
    fig.update_xaxes(type="date")
    return layout(fig, "Device timeline: which trial ran on which device, when", barmode="overlay",
                   height=max(HEIGHT, 26 * len(order) + 120), bargap=0.25,
                   uniformtext=dict(mode="hide", minsize=8))  # a trial's number only where it fits


# --- ReID -------------------------------------------------------------------------------------------

def _float(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def cmc_curves(frame: pd.DataFrame, direction: str, curves: dict[int, dict[int, float]]) -> go.Figure | None:
    """CMC curves (validation, at each trial's best epoch; ``curves``: trial -> rank -> rate) of the
    top trials."""
    top = best_first(completed(frame), direction).head(CMC_TRIALS)
    traces, partial = [], False
    for number in top["number"]:
        curve = curves.get(int(number))
        if not curve or len(curve) < 2:  # one rank is no curve
            continue
        ranks = sorted(curve)
        partial |= len(ranks) <= 3
        traces.append(go.Scatter(x=ranks, y=[curve[r] for r in ranks], mode="lines+markers", name=f"trial {number}",
                                 hovertemplate=f"trial {number}<br>rank %{{x}}: %{{y:.4f}}<extra></extra>"))
    if not traces:
        return None
    title = f"CMC curves of the top {len(traces)} trials<br><sup>validation split, at each trial's best epoch"
    title += "; rank-1/5/10 only where the trainer reported no full curve</sup>" if partial else "</sup>"
    return layout(go.Figure(traces), title, xaxis_title="rank", yaxis_title="matching rate",
                   xaxis=dict(dtick=1 if max(len(t.x) for t in traces) <= 20 else None))


def baseline_vs_best(summary: dict[str, Any]) -> go.Figure | None:
    best = summary.get("test_evaluation") or {}
    baseline = (summary.get("baseline") or {}).get("test_evaluation") or {}
    names = [k for k in TEST_KPIS if k in best] + [k for k in best if k not in TEST_KPIS and k in baseline]
    if not best or not baseline or not names:
        return None
    source = summary["baseline"].get("source", "baseline")
    trial = (summary.get("best") or {}).get("trial")
    fig = go.Figure([
        go.Bar(x=names, y=[_float(baseline.get(n), math.nan) for n in names], name=f"baseline: {source}",
               marker_color="#7f7f7f", hovertemplate="%{x}: %{y:.4f}<extra></extra>"),
        go.Bar(x=names, y=[_float(best.get(n), math.nan) for n in names], name=f"best: trial {trial}",
               marker_color="#1f77b4", hovertemplate="%{x}: %{y:.4f}<extra></extra>"),
    ])
    return layout(fig, "Test query/gallery: baseline against the best trial", barmode="group",
                   yaxis=dict(range=[0, 1], title="score"))


def pareto(trials: list, objectives: list[tuple[str, str]], metric: str, front: list, chosen: int | None) -> go.Figure | None:
    """The first two objectives of every completed trial, the Pareto front joined and the handed-off
    trial marked; hover: the trial and its parameters."""
    (x_name, x_dir), (y_name, y_dir) = objectives[1], objectives[0]
    done = [t for t in trials if t.state == "COMPLETE" and t.kpi(x_name, metric) is not None
            and t.kpi(y_name, metric) is not None]
    if not done:
        return None
    on_front = {t.number for t in front}

    def hover(t) -> str:
        params = "<br>".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in (t.config or {}).items())
        return f"trial {t.number}<br>{y_name}={t.kpi(y_name, metric):.4g}<br>{x_name}={t.kpi(x_name, metric):.4g}" \
               f"<br>{params}"

    def trace(group: list, name: str, **style: Any) -> go.Scatter:
        return go.Scatter(x=[t.kpi(x_name, metric) for t in group], y=[t.kpi(y_name, metric) for t in group],
                          name=name, text=[hover(t) for t in group], hovertemplate="%{text}<extra></extra>", **style)

    ordered = sorted(front, key=lambda t: t.kpi(x_name, metric))
    traces = [trace([t for t in done if t.number not in on_front], "dominated", mode="markers",
                    marker=dict(color="#b0b0b0", size=8)),
              trace(ordered, "Pareto front", mode="lines+markers", line=dict(shape="hv", color="#1f77b4"),
                    marker=dict(size=10))]
    picked = [t for t in done if t.number == chosen]
    if picked:
        traces.append(trace(picked, f"handed off: trial {chosen}", mode="markers",
                            marker=dict(symbol="star", size=18, color="#d62728")))
    return layout(go.Figure(traces), f"Pareto front: {y_name} ({y_dir}) against {x_name} ({x_dir})",
                  xaxis_title=x_name, yaxis_title=y_name)
