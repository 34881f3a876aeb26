"""Efficiency (seed 004's efficiency analysis): per model cost, speed and quality, a 0-10 score with its formula,
recommendations derived from the figures, and overall insights."""
import pandas as pd
import streamlit as st

from ui import cache, charts, filters
from ui.common import empty_state, esc, no_data_hint, percent, scope_caption, unpriced_note, usd
from ui.entry import require_entry

require_entry()  # a direct URL on a fresh process: go through dashboard.py
st.title("Efficiency")
scope = filters.scope()
PERIODS = {"7": "7 days", "30": "30 days", "90": "90 days"}
# Shares the Overview's period parameter; a custom range there falls back to 30 days here.
days = filters.radio("Period", list(PERIODS), "days", "30", format_func=PERIODS.get)
d = cache.efficiency(days=int(days), **scope)
st.caption(f"{d['period']['start_date']} → {d['period']['end_date']} (UTC).")
scope_caption(scope)
models = d["models_comparison"]
if not models:
    empty_state("No AI usage recorded in this period" + (" for these filters." if any(scope.values()) else "."),
                no_data_hint())
    st.stop()

ins = d["overall_insights"]
c = st.columns(3)
c[0].metric("Most cost-effective", ins["most_cost_effective"] or "—", help="Lowest cost per token")
c[1].metric("For simple tasks", ins["recommended_for_simple_tasks"] or "—",
            help="Cheapest per token among models with a success rate of 95 % or more and under 30 s on average")
c[2].metric("Highest quality", ins["highest_quality"] or "—", help="Highest success rate")
c = st.columns(3)
c[0].metric("Fastest", ins["fastest"] or "—", help="Lowest average execution time")
c[1].metric("Best overall score", ins["best_overall"] or "—")
for rec in ins["recommendations"]:
    st.markdown("- " + esc(rec))
unpriced_note(d["unpriced"])
st.caption("Score (0-10) = 0.4 × cost score + 0.3 × speed score + 0.3 × quality score. Cost and speed scores "
           "place each model between the cheapest/fastest (10) and the dearest/slowest (0) of the models shown; "
           "quality = 10 × success rate. A model without a price is scored on speed and quality only (half each).")

left, right = st.columns(2)
with left:
    st.plotly_chart(charts.score_bars(models), width="stretch")
with right:
    if any(m["metrics"]["cost_per_token"] is not None for m in models):
        st.plotly_chart(charts.efficiency_scatter(models), width="stretch")
    else:
        empty_state("No priced model in this period: nothing to place on a cost axis.")

st.dataframe(pd.DataFrame([{
    "Model": m["model"], "Provider": m["provider"], "Score": m["efficiency_score"],
    "Avg cost / job": usd(m["metrics"]["avg_cost_per_job"], 4),
    "Cost / 1k tokens": "unpriced" if m["metrics"]["cost_per_token"] is None
    else usd(m["metrics"]["cost_per_token"] * 1000, 4),
    "Avg time (s)": m["metrics"]["avg_execution_time"], "Success rate": percent(m["metrics"]["success_rate"] * 100),
    "Avg tokens": m["metrics"]["avg_tokens"], "Jobs": m["metrics"]["jobs_count"]} for m in models]),
    hide_index=True, width="stretch")

st.subheader("Recommendations per model")
for m in models:
    with st.expander(f"{esc(m['model'])} ({esc(m['provider'])}) — score {m['efficiency_score']:.1f}"):
        parts = m["score_parts"]
        st.caption(f"Cost score {parts['cost'] if parts['cost'] is not None else 'n/a'}, speed {parts['speed']}, "
                   f"quality {parts['quality']}")
        for rec in m["recommendations"]:
            st.markdown("- " + esc(rec))
