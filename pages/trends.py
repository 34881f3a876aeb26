"""Trends (the usage trends): a metric per week, month or quarter, the change against the previous
period, and a summary whose rules are stated on the page (and in the manual). The period in progress is drawn
hatched and labelled "so far", and has no change: it is not a full period yet."""

import pandas as pd
import streamlit as st

from core import display
from ui import cache, charts, filters
from ui.common import empty_state, esc, no_data_hint, scope_caption, unpriced_note
from ui.entry import require_entry

require_entry()  # a direct URL on a fresh process: go through dashboard.py
st.title("Trends")
scope = filters.scope()
c1, c2 = st.columns(2)
period = filters.radio(
    "Period", ["week", "month", "quarter"], "period", "week", container=c1, format_func=str.capitalize
)
metric = filters.radio("Metric", ["cost", "tokens", "jobs"], "metric", "cost", container=c2, format_func=str.capitalize)
d = cache.trends(period, metric, scope["company"], scope["brand"], scope["provider"])
scope_caption(scope)
points = d.points
if not points:
    empty_state(
        "No AI usage recorded in the periods shown" + (" for these filters." if any(scope.values()) else "."),
        no_data_hint(),
    )
    st.stop()

s = d.summary
complete_changes = [p for p in points if not p.in_progress and p.change_percentage is not None]
current = points[-1] if points[-1].in_progress else None
arrows = {"increasing": "↗ increasing", "decreasing": "↘ decreasing", "stable": "→ stable"}
cols = st.columns(3)
if complete_changes:
    cols[0].metric(
        "Trend", arrows[s["trend"]], f"{s['slope_percentage']:+.1f}% per {period} (fitted)", delta_color="off"
    )
    cols[1].metric("Average growth", f"{s['avg_growth']:+.1f}%")
    cols[2].metric("Volatility", s["volatility"].capitalize(), f"σ {s['change_std_dev']:.1f} points", delta_color="off")
else:  # no complete period with a previous one yet: nothing to measure a change on
    for col, label in zip(cols, ("Trend", "Average growth", "Volatility")):
        col.metric(label, display.DASH)
in_progress = f" The {period} in progress ({esc(current.label)}) is left out." if current else ""
st.caption(
    f"Summary over {display.plural(s['periods_used'], 'complete ' + period)}.{in_progress} Trend: "
    "least-squares slope as a % of the mean per period, beyond ±5% is increasing / decreasing. Average "
    "growth: mean of the period-over-period changes. Volatility: standard deviation of those changes — "
    "under 10 points low, under 25 moderate, else high."
)
unpriced_note(d.unpriced)
st.plotly_chart(charts.trend_chart(points, metric), width="stretch")


def fmt(value):
    return display.usd(value) if metric == "cost" else display.count(value)


def change(p):
    if p.in_progress:
        return "in progress"
    return display.DASH if p.change_percentage is None else f"{p.change_percentage:+.1f}%"


st.table(
    pd.DataFrame(
        [
            {
                "Period": esc(p.label + (" (so far)" if p.in_progress else "")),
                "From": p.start.isoformat(),
                "To": p.end.isoformat(),
                metric.capitalize(): esc(fmt(p.value)),
                "Jobs": display.count(p.jobs),
                "Change": esc(change(p)),
            }
            for p in points
        ]
    ).set_index("Period")
)
