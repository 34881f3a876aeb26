"""Trends (seed 004's usage trends): a metric per week, month or quarter, the change against the previous
period, and a summary whose rules are stated on the page (and in the README)."""
import pandas as pd
import streamlit as st

from ui import cache, charts, filters
from ui.common import empty_state, esc, no_data_hint, scope_caption, unpriced_note, usd
from ui.entry import require_entry

require_entry()  # a direct URL on a fresh process: go through dashboard.py
st.title("Trends")
scope = filters.scope()
c1, c2 = st.columns(2)
period = filters.radio("Period", ["week", "month", "quarter"], "period", "week", container=c1,
                       format_func=str.capitalize)
metric = filters.radio("Metric", ["cost", "tokens", "jobs"], "metric", "cost", container=c2,
                       format_func=str.capitalize)
d = cache.trends(period=period, metric=metric, **scope)
scope_caption(scope)
points = d["data_points"]
if not points:
    empty_state("No AI usage recorded in the periods shown" + (" for these filters." if any(scope.values()) else "."),
                no_data_hint())
    st.stop()

s = d["summary"]
arrows = {"increasing": "↗ increasing", "decreasing": "↘ decreasing", "stable": "→ stable"}
cols = st.columns(3)
cols[0].metric("Trend", arrows[s["trend"]], f"{s['slope_percentage']:+.1f}% per {period} (fitted)",
               delta_color="off")
cols[1].metric("Average growth", f"{s['avg_growth']:+.1f}%")
cols[2].metric("Volatility", s["volatility"].capitalize(), f"σ {s['change_std_dev']:.1f} points", delta_color="off")
st.caption(f"Summary over {s['periods_used']} {period}(s): complete periods only, unless fewer than two are "
           "complete. Trend: least-squares slope as a % of the mean per period, beyond ±5% is increasing / "
           "decreasing. Average growth: mean of the period-over-period changes. Volatility: standard deviation of "
           "those changes — under 10 points low, under 25 moderate, else high.")
unpriced_note(d["unpriced"])
st.plotly_chart(charts.trend_chart(points, metric), width="stretch")


def fmt(value):
    return usd(value) if metric == "cost" else f"{value:,}"


st.table(pd.DataFrame([{"Period": esc(p["period_label"]), "From": p["start_date"], "To": p["end_date"],
                        metric.capitalize(): esc(fmt(p["value"])), "Jobs": f"{p['jobs']:,}",
                        "Change": "—" if p["change_percentage"] is None else esc(f"{p['change_percentage']:+.1f}%"),
                        "Complete": "yes" if p["complete"] else "in progress"} for p in points]).set_index("Period"))
