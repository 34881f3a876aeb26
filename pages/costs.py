"""Costs (seed 004's cost breakdown): one month against the budget, the month-end projection and the day the
budget runs out at the current pace; by provider, model and brand; ISO weeks with the average daily cost."""
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from core.validation import InvalidRecord
from ui import cache, charts, filters
from ui.common import count, empty_state, esc, no_data_hint, percent, scope_caption, unpriced_note, usd
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
    d = cache.costs(month=month, **scope)
except InvalidRecord as e:
    st.error(f"Invalid month: {e}")
    st.stop()
st.caption(f"{d['period']['start_date']} → {d['period']['end_date']} (UTC). Projection: cost so far ÷ days "
           "elapsed × days in the month (a finished month shows its actual total).")
scope_caption(scope)

f = d["budget_forecast"]
cols = st.columns(5)
cols[0].metric("Cost this month", usd(d["total_cost"]))
cols[1].metric("Budget", usd(d["budget_limit"]) if d["budget_limit"] else "No budget")
cols[2].metric("Budget used", percent(d["budget_used_percentage"]))
share = d["projected_budget_percentage"]
cols[3].metric("Projected month end", usd(d["projected_monthly_cost"]),
               None if share is None else f"{share:.1f}% of budget", delta_color="off")
runs_out = {"exceeded": (f["runs_out_on"], "-already exceeded"), "runs_out": (f["runs_out_on"], "-at this pace"),
            "within_budget": ("Holds", "not this month"), "no_budget": ("—", None)}[f["status"]]
cols[4].metric("Budget runs out", runs_out[0], runs_out[1],
               delta_color="off" if f["status"] == "within_budget" else "normal")
if d["budget_limit"]:
    used = d["budget_used_percentage"] or 0.0
    st.progress(min(used / 100, 1.0), text=f"{used:.1f}% of the monthly budget used "
                f"(pace {usd(f['daily_pace'])} a day; remaining {usd(f['remaining'])})")
    if f["status"] == "runs_out":
        st.warning(f"At the current pace the budget runs out on {f['runs_out_on']}, before the month ends.")
    elif f["status"] == "exceeded":
        st.error(f"The budget was exceeded on {f['runs_out_on']}.")
else:
    st.caption("No company-wide budget is set for this scope: set one in Settings or with "
               "`python -m core budget set --company NAME --monthly-usd AMOUNT`.")
unpriced_note(d["unpriced"])

if d["jobs"] == 0:
    empty_state(f"No AI usage recorded in {d['period']['month']}" +
                (" for these filters." if any(scope.values()) else "."), no_data_hint())
    st.stop()

st.plotly_chart(charts.budget_burn(d["daily"], d["period"]["start_date"], d["period"]["end_date"], d["budget_limit"],
                                   d["projected_monthly_cost"]), width="stretch")
left, right = st.columns(2)
with left:
    st.subheader("By provider")
    st.plotly_chart(charts.provider_bars(d["by_provider"], "total_cost"), width="stretch")
    st.dataframe(pd.DataFrame([{"Provider": p["provider"], "Cost": usd(p["total_cost"]),
                                "Share": percent(p["percentage"]), "Jobs": p["jobs"],
                                "Avg cost / job": usd(p["avg_cost_per_job"], 4)} for p in d["by_provider"]]),
                 hide_index=True, width="stretch")
with right:
    st.subheader("By brand")
    st.plotly_chart(charts.share_pie(d["by_brand"], "brand_name", "cost", "Share of cost by brand"),
                    width="stretch")
    st.dataframe(pd.DataFrame([{"Brand": b["brand_name"], "Company": b["company"], "Cost": usd(b["cost"]),
                                "Share": percent(b["percentage"]), "Jobs": b["jobs"]} for b in d["by_brand"]]),
                 hide_index=True, width="stretch")
st.subheader("By model")
st.plotly_chart(charts.model_bars(d["by_model"]), width="stretch")
st.dataframe(pd.DataFrame([{"Model": x["model"], "Provider": x["provider"], "Cost": usd(x["cost"]),
                            "Share": percent(x["percentage"]), "Jobs": x["jobs"]} for x in d["by_model"]]),
             hide_index=True, width="stretch")
st.subheader("Weekly trend")
st.plotly_chart(charts.weekly_bars(d["cost_trends"]), width="stretch")
st.table(pd.DataFrame([{"ISO week": w["week"], "Days": esc(f"{w['start_date']} → {w['end_date']}"),
                        "Cost": esc(usd(w["cost"])), "Jobs": count(w["jobs"]),
                        "Average daily cost": esc(usd(w["avg_daily"]))} for w in d["cost_trends"]]
                      ).set_index("ISO week"))

# Estimated vs billed for the same month and company (the bill is OpenAI's: other providers have none to compare).
render_reconciliation(scope["company"], month=month, provider=scope["provider"], brand=scope["brand"])
