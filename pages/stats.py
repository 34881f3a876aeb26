"""Stats (the usage statistics): lifetime totals, the month to date against the whole previous month,
lifetime efficiency figures and the top performers."""

import streamlit as st

from core.analytics.model_choice import MIN_JOBS
from ui import cache, charts, filters
from ui.common import (
    compact,
    count,
    delta,
    empty_state,
    esc,
    no_data_hint,
    percent,
    plural,
    scope_caption,
    seconds,
    unpriced_note,
    usd,
)
from ui.entry import require_entry

require_entry()  # a direct URL on a fresh process: go through dashboard.py
st.title("Stats")
scope = filters.scope()
d = cache.stats(scope["company"], scope["brand"], scope["provider"])
scope_caption(scope)
if d.total_jobs == 0:
    empty_state("No AI usage recorded yet" + (" for these filters." if any(scope.values()) else "."), no_data_hint())
    st.stop()

st.subheader("Lifetime")
c = st.columns(4)
c[0].metric("Jobs", count(d.total_jobs))
c[1].metric("Cost", usd(d.total_cost))
c[2].metric("Tokens", compact(d.total_tokens), help=f"{count(d.total_tokens)} tokens")
c[3].metric(
    "Cost per 1M tokens",
    usd(d.cost_per_token * 1_000_000),
    help="Over priced calls only: unpriced calls have tokens but no cost.",
)
unpriced_note(d.unpriced)

cur, prev, g = d.current_month, d.previous_month, d.growth()
st.subheader(f"This month ({cur.month}, to {d.to.date()}) against {prev.month}")
c = st.columns(3)
c[0].metric("Jobs", count(cur.jobs), delta(g["jobs_percentage"]))
c[1].metric("Cost", usd(cur.cost), delta(g["cost_percentage"]), delta_color="inverse")
c[2].metric("Tokens", compact(cur.tokens), delta(g["tokens_percentage"]), help=f"{count(cur.tokens)} tokens")
st.caption(
    f"Previous month: {plural(prev.jobs, 'job')}, {esc(usd(prev.cost))}, "
    f"{plural(prev.tokens, 'token')}. "
    "Growth compares the month to date with the whole previous month."
)
st.plotly_chart(charts.month_compare(cur, prev, cur.month + " (to date)", prev.month), width="stretch")

st.subheader("Efficiency (lifetime)")
c = st.columns(4)
c[0].metric("Avg tokens / job", count(d.avg_tokens_per_job))
c[1].metric("Avg cost / job", usd(d.avg_cost_per_job))
c[2].metric("Avg execution time", seconds(d.avg_execution_time))
c[3].metric("Success rate", percent(d.success_rate * 100))

t = d.top_performers
st.subheader("Top performers")
c = st.columns(3)
c[0].metric(
    "Cheapest per job",
    t.most_efficient_model or "—",
    help=f"Lowest average cost per job among priced models with at least {MIN_JOBS} priced jobs, over "
    "the lifetime (Efficiency uses the same rule over its period). Self-hosted models ($0.00) are not "
    "ranked on cost.",
)
c[1].metric("Fastest", t.fastest_model or "—")
c[2].metric("Most used", t.most_used_model or "—")
