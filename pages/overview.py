"""Overview (the usage dashboard): totals against the previous period, where the money goes by provider,
model, operation and day, the ten costliest jobs and quality figures."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from core.errors import InvalidRecord
from ui import budgets, cache, filters
from ui.common import (
    compact,
    count,
    dataframe,
    delta,
    empty_state,
    esc,
    no_data_hint,
    percent,
    scope_caption,
    seconds,
    unpriced_note,
    usd,
    when,
)
from ui.entry import require_entry

require_entry()  # a direct URL on a fresh process: go through dashboard.py
st.title("Overview")
PERIODS = {"7": "7 days", "30": "30 days", "90": "90 days", "custom": "Custom range"}
scope = filters.scope()
choice = filters.radio("Period", list(PERIODS), "days", str(cache.OVERVIEW_DAYS), format_func=PERIODS.get)
if choice == "custom":
    today = datetime.now(UTC).date()
    c1, c2 = st.columns(2)
    start = filters.date_input("From", "start", today - timedelta(days=29), container=c1, max_value=today)
    end = filters.date_input("To (included)", "end", today, container=c2, max_value=today)
    period = {"start": start, "end": end}
else:
    filters.put("start", None)
    filters.put("end", None)
    period = {"days": int(choice)}

try:
    # The first view after a start computes these (ui.warmup computes the default view ahead): say so meanwhile.
    with st.spinner("Loading the figures of this period…"):
        d = cache.overview(scope["company"], scope["brand"], scope["provider"], **period)
        board = cache.budget_status(scope["company"], scope["provider"])
except InvalidRecord as e:
    st.error(f"Invalid period: {e}")
    st.stop()

# Budgets and quotas at risk this month come first: a finance reader acts on them before reading trends.
budgets.render_at_risk(board)
st.caption(
    f"{d.start.date()} → {d.end.date()} (UTC), {d.days} days; compared with "
    f"{d.previous_start.date()} → {d.previous_end.date()}."
)
scope_caption(scope)
t, change = d.totals, d.change()
if t.jobs == 0:
    empty_state(
        "No AI usage recorded in this period" + (" for these filters." if any(scope.values()) else "."), no_data_hint()
    )
    st.stop()

cols = st.columns(5)
cols[0].metric("Jobs", count(t.jobs), delta(change["jobs_percentage"]))
cols[1].metric("Tokens", compact(t.tokens), delta(change["tokens_percentage"]), help=f"{count(t.tokens)} tokens")
cols[2].metric("Cost", usd(t.cost), delta(change["cost_percentage"]), delta_color="inverse")
cols[3].metric(
    "Avg cost / job", usd(t.avg_cost_per_job), delta(change["avg_cost_per_job_percentage"]), delta_color="inverse"
)
cols[4].metric(
    "Avg execution time",
    seconds(t.avg_execution_time),
    delta(change["avg_execution_time_percentage"]),
    delta_color="inverse",
)
unpriced_note(d.unpriced)

from ui import charts  # noqa: E402 - after the figures above: a cold process shows them before importing plotly

metric = filters.radio("Daily chart", ["cost", "tokens", "jobs"], "chart", "cost", format_func=str.capitalize)
st.plotly_chart(charts.daily_stacked(d.daily_by_provider, metric), width="stretch")

# A breakdown is a chart beside its table, the table keeping most of the width so that no column is cut at
# 1440 px.
st.subheader("By provider")
chart, table = st.columns([2, 3])
chart.plotly_chart(charts.provider_bars(d.by_provider), width="stretch")
with table:
    dataframe(
        [
            {
                "Provider": p.provider,
                "Jobs": p.jobs,
                "Tokens": p.tokens,
                "Cost": usd(p.cost),
                "Share": percent(p.percentage),
                "Avg cost / job": usd(p.avg_cost),
                "Unpriced": p.unpriced_jobs,
            }
            for p in d.by_provider
        ]
    )

st.subheader("By model")  # model names are long: chart and table take the full width
st.plotly_chart(charts.model_bars(d.by_model), width="stretch")
dataframe(
    [
        {
            "Model": m.model,
            "Provider": m.provider,
            "Jobs": m.jobs,
            "Cost": usd(m.cost),
            "Share": percent(m.percentage),
            "Avg tokens": m.avg_tokens,
        }
        for m in d.by_model
    ]
)

st.subheader("By operation")
chart, table = st.columns([2, 3])
chart.plotly_chart(charts.operation_bars(d.by_operation), width="stretch")
with table:
    dataframe(
        [
            {
                "Operation": o.operation,
                "Calls": o.calls,
                "Tokens": o.tokens,
                "Cost": usd(o.cost),
                "Share": percent(o.percentage),
            }
            for o in d.by_operation
        ]
    )

st.subheader("Quality")
q = d.quality
left, right = st.columns([2, 3])
with left:
    a, b = st.columns(2)
    a.metric("Success rate", percent(q.success_rate * 100))
    b.metric("Avg execution time", seconds(q.avg_execution_time))
    a.metric("Failed jobs", count(q.failed_jobs))
    b.metric("Timed-out jobs", count(q.timeout_jobs))
if len(d.by_brand) > 1:
    right.plotly_chart(charts.share_pie(d.by_brand, "brand_name", "cost", "Cost by brand"), width="stretch")

st.subheader("Daily breakdown")
dataframe(
    [
        {
            "Day": x.day.isoformat(),
            "Jobs": x.jobs,
            "Tokens": x.tokens,
            "Cost": usd(x.cost),
            "Avg execution time": seconds(x.avg_execution_time),
        }
        for x in d.daily
    ]
)

st.subheader("10 costliest jobs")
top = d.top_costly_jobs
# st.table renders markdown in cells: every cell is escaped (job ids and descriptions come from callers).
st.table(
    pd.DataFrame(
        [
            {
                "Job": esc(j.job_id),
                "Cost": esc(usd(j.cost)),
                "Tokens": count(j.tokens),
                "Model": esc(j.model),
                "Provider": esc(j.provider),
                "When": esc(when(j.created_at)),
                "Description": esc(j.description or ""),
            }
            for j in top
        ]
    ).set_index("Job")
)
labels = {j.usage_id: f"{j.job_id} — {usd(j.cost)} — {j.model}" for j in top}
pick = st.selectbox("Open a job in the usage explorer", list(labels), format_func=labels.get, key="top_pick")
if pick is not None:
    st.page_link(
        "pages/usage.py", label=f"Open {esc(labels[pick])}", icon=":material/search:", query_params={"id": str(pick)}
    )
