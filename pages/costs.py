"""Costs: one month's spend, the month-end projection, every budget and quota in scope (worst first, never a sum
across companies) and the day each runs out at the current pace; by provider, model and brand; ISO weeks with the
average daily cost; the month as a FOCUS file for FinOps tools; our estimate against each provider's bill."""

import re
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from core import display
from core.analytics import BudgetStatus
from core.errors import InvalidRecord
from ui import budgets, cache, charts, filters
from ui.common import (
    count,
    dataframe,
    empty_state,
    esc,
    no_data_hint,
    percent,
    scope_caption,
    unpriced_note,
    usd,
)
from ui.entry import require_entry
from ui.reconciliation import render_reconciliation

require_entry()  # a direct URL on a fresh process: go through dashboard.py
st.title("Costs")
now = datetime.now(UTC)
months = []
y, m = now.year, now.month
for _ in range(24):
    months.append(f"{y:04d}-{m:02d}")
    y, m = (y - 1, 12) if m == 1 else (y, m - 1)
scope = filters.scope()
month = filters.selectbox("Month", months, "month", months[0])
try:
    d = cache.costs(month, scope["company"], scope["brand"], scope["provider"])
except InvalidRecord as e:
    st.error(f"Invalid month: {e}")
    st.stop()
st.caption(
    f"{d.start} → {d.end} (UTC). Projection: cost so far ÷ days elapsed × days in the month (a finished "
    "month shows its actual total)."
)
scope_caption(scope)
focus_scope = scope["company"] or "all companies"
st.download_button(
    f"Download {month} as FOCUS",
    data=lambda: cache.export_focus(month, scope["company"]),
    file_name=f"focus_{month}_{re.sub(r'[^A-Za-z0-9_.-]+', '_', focus_scope)}.csv",
    mime="text/csv",
    on_click="ignore",
    icon=":material/download:",
    help=f"The month's cost and usage of {focus_scope} in the FinOps Foundation's FOCUS columns (CSV), for FinOps "
    "tools: one row per day, brand, operation, provider, model and token kind. The brand and provider "
    "filters do not apply.",
)

f = d.forecast
current_month = month == months[0]
board = cache.budget_status(scope["company"], scope["provider"]) if current_month else BudgetStatus(())
worst = board.worst
cols = st.columns(4)
cols[0].metric("Cost this month", usd(d.total_cost))
share = d.projected_budget_percentage
cols[1].metric(
    "Projected month end",
    usd(d.projected_monthly_cost),
    None if share is None else f"{percent(share)} of budget",
    delta_color="off",
    delta_arrow="off",
)
if d.budget_limit is not None:
    # One company (and provider, when filtered): its own budget, never a sum across companies.
    cols[2].metric(
        "Budget", usd(d.budget_limit), f"{percent(d.budget_used_percentage)} used", delta_color="off", delta_arrow="off"
    )
    day = display.day(f.runs_out_on) if f.runs_out_on else display.DASH
    runs_out = {
        "exceeded": (day, "-already exceeded"),
        "runs_out": (day, "-at this pace"),
        "within_budget": ("Holds", "not this month"),
        "no_budget": ("—", None),
    }[f.status]
    cols[3].metric(
        "Budget runs out",
        runs_out[0],
        runs_out[1],
        delta_color="off" if f.status == "within_budget" else "normal",
        delta_arrow="off" if f.status == "within_budget" else "auto",
    )
elif worst is not None:
    cols[2].metric(
        "Worst budget",
        f"{percent(worst.percentage)} used",
        f"{budgets.STATUS_LABEL[worst.status]}: {budgets.scope_label(worst)}",
        delta_color="off",
        delta_arrow="off",
    )
    cols[3].metric(
        "Runs out",
        display.day(worst.runs_out_on) if worst.runs_out_on else "Holds",
        None if worst.runs_out_on else "not this month",
        delta_color="off",
        delta_arrow="off",
    )
if worst is not None:
    box = {"exceeded": st.error, "critical": st.error, "warning": st.warning}.get(worst.status, st.info)
    box(f"**{esc(budgets.headline(worst))}**", icon=":material/savings:")
if d.budget_limit is not None:
    used = d.budget_used_percentage or 0.0
    st.progress(
        min(used / 100, 1.0),
        text=f"{percent(used)} of the monthly budget used "
        f"(pace {usd(f.daily_pace)} a day; remaining {usd(f.remaining)})",
    )
if current_month:
    with st.expander(
        f"Budgets and quotas ({len(board.items)}), worst first",
        expanded=bool(board.items) and board.items[0].status != "ok",
    ):
        budgets.render_board(board)
elif d.budget_limit is None:
    st.caption("The budget board shows the month in progress; pick it to see each budget and quota.")
unpriced_note(d.unpriced)

if d.jobs == 0:
    empty_state(
        f"No AI usage recorded in {d.month}" + (" for these filters." if any(scope.values()) else "."), no_data_hint()
    )
    st.stop()

st.plotly_chart(charts.budget_burn(d.daily, d.start, d.end, d.budget_limit, d.projected_monthly_cost), width="stretch")
left, right = st.columns(2)
with left:
    st.subheader("By provider")
    st.plotly_chart(charts.provider_bars(d.by_provider, "total_cost"), width="stretch")
    dataframe(
        [
            {
                "Provider": p.provider,
                "Cost": usd(p.total_cost),
                "Share": percent(p.percentage),
                "Jobs": p.jobs,
                "Avg cost / job": usd(p.avg_cost_per_job),
            }
            for p in d.by_provider
        ]
    )
with right:
    st.subheader("By brand")
    st.plotly_chart(charts.share_pie(d.by_brand, "brand_name", "cost", "Share of cost by brand"), width="stretch")
    dataframe(
        [
            {
                "Brand": b.brand_name,
                "Company": b.company,
                "Cost": usd(b.cost),
                "Share": percent(b.percentage),
                "Jobs": b.jobs,
            }
            for b in d.by_brand
        ]
    )
st.subheader("By model")
st.plotly_chart(charts.model_bars(d.by_model), width="stretch")
dataframe(
    [
        {"Model": x.model, "Provider": x.provider, "Cost": usd(x.cost), "Share": percent(x.percentage), "Jobs": x.jobs}
        for x in d.by_model
    ],
    widths={"Model": "large"},
)
st.subheader("Weekly trend")
st.plotly_chart(charts.weekly_bars(d.weeks), width="stretch")
st.table(
    pd.DataFrame(
        [
            {
                "ISO week": w.week,
                "Days": esc(f"{w.start} → {w.end}"),
                "Cost": esc(usd(w.cost)),
                "Jobs": count(w.jobs),
                "Average daily cost": esc(usd(w.avg_daily)),
            }
            for w in d.weeks
        ]
    ).set_index("ISO week")
)

# Estimated vs billed for the same month and company, for each provider whose bill is synced (OpenAI, Anthropic).
render_reconciliation(scope["company"], month=month, provider=scope["provider"], brand=scope["brand"])
