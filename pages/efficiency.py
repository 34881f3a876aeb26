"""Efficiency (the efficiency analysis): per model cost, speed and reliability, a 0-10 score with its formula,
the monthly savings of moving an operation's calls to a cheaper model, recommendations derived from the figures,
and overall insights. Self-hosted models are listed apart: their $0 is no price."""

from decimal import Decimal

import pandas as pd
import streamlit as st

from core.analytics import ModelEfficiency
from core.display import count, percent, seconds, usd
from ui import cache, charts, filters
from ui.common import dataframe, empty_state, esc, no_data_hint, scope_caption, unpriced_note
from ui.entry import require_entry

require_entry()  # a direct URL on a fresh process: go through dashboard.py
st.title("Efficiency")
scope = filters.scope()
PERIODS = {"7": "7 days", "30": "30 days", "90": "90 days"}
# Shares the Overview's period parameter; a custom range there falls back to 30 days here.
days = filters.radio("Period", list(PERIODS), "days", "30", format_func=PERIODS.get)
d = cache.efficiency(int(days), scope["company"], scope["brand"], scope["provider"])
st.caption(f"{d.start} → {d.end} (UTC).")
scope_caption(scope)
models = d.models
if not models:
    empty_state(
        "No AI usage recorded in this period" + (" for these filters." if any(scope.values()) else "."), no_data_hint()
    )
    st.stop()

MIN = d.min_jobs
ins = d.insights
c = st.columns(3)
c[0].metric(
    "Cheapest per job",
    ins.most_cost_effective or "—",
    help=f"Lowest average cost per job among priced models with at least {MIN} priced jobs in the period. "
    "Self-hosted models ($0.00: the hardware is paid elsewhere) are not ranked on cost.",
)
c[1].metric(
    "For simple tasks",
    ins.recommended_for_simple_tasks or "—",
    help=f"Cheapest per job among priced models with a reliability of 95 % or more, under 30 s on average "
    f"and at least {MIN} jobs",
)
c[2].metric("Most reliable", ins.highest_quality or "—", help="Highest share of calls that succeeded")
c = st.columns(3)
c[0].metric("Fastest", ins.fastest or "—", help="Lowest average execution time")
c[1].metric("Best overall score", ins.best_overall or "—", help="Among priced models when there are any")
for rec in ins.recommendations:
    st.markdown("- " + esc(rec))
unpriced_note(d.unpriced)

st.subheader(f"Savings per operation (last {d.savings_period_days} days)")
plan = d.savings
if plan:
    # Each proposal moves different calls (one per operation and model), so they add up.
    total = sum((s.saving_usd_month for s in plan), Decimal(0))
    st.metric(
        "Saving if every proposal is followed",
        f"{usd(total)} / month",
        help=f"At the last {d.savings_period_days} days' volume",
    )
    st.table(
        pd.DataFrame(
            [
                {
                    "Company": esc(s.company or "—"),
                    "Operation": esc(s.operation),
                    "From": esc(f"{s.from_model} ({s.from_provider})"),
                    "To": esc(f"{s.to_model} ({s.to_provider})"),
                    "Calls (30 days)": count(s.calls_30d),
                    "From avg / job": esc(usd(s.from_avg_cost_per_job)),
                    "To avg / job": esc(usd(s.to_avg_cost_per_job)),
                    "To reliability": esc(percent(s.to_reliability * 100)),
                    "Saving / month": esc(usd(s.saving_usd_month)),
                }
                for s in plan
            ]
        ).set_index("Company")
    )
    st.caption(
        f"Saving / month = the operation's calls on the first model in the last {d.savings_period_days} "
        "days × (its average cost per job − the other's), both averages over those days. Proposed only "
        f"when the cheaper model already serves the same operation of the same company, with at least {MIN} "
        "priced jobs there and a reliability of 95 % or more. Self-hosted models are left out."
    )
else:
    st.caption(
        f"No saving to propose: no operation has a cheaper priced model with at least {MIN} jobs on it and "
        "a reliability of 95 % or more in the last 30 days."
    )

st.subheader("Scores")
st.caption(
    "Score (0-10) = 0.4 × cost score + 0.3 × speed score + 0.3 × reliability score. Cost and speed scores "
    "place each model between the cheapest/fastest (10) and the dearest/slowest (0) of the models shown; "
    "reliability score = 10 × the share of calls that succeeded. A model without a price, or a self-hosted "
    "one, is scored on speed and reliability only (half each); a model with no timed call has no speed score, "
    "and the parts it has keep their weights' ratio."
)
left, right = st.columns(2)
with left:
    st.plotly_chart(charts.score_bars(models), width="stretch")
with right:
    # A self-hosted model's $0 is no cost: it would sit at the bottom of the cost axis as if it were cheapest.
    # A model none of whose calls was timed has no place on the speed axis either (its time is unknown, not 0 s).
    on_cost_axis = [
        m
        for m in models
        if not m.self_hosted and m.metrics.cost_per_token is not None and m.metrics.avg_execution_time is not None
    ]
    if on_cost_axis:
        st.plotly_chart(charts.efficiency_scatter(on_cost_axis), width="stretch")
    else:
        empty_state("No priced model with timed calls in this period: nothing to place on the cost and speed axes.")


def _row(m: ModelEfficiency) -> dict:
    met = m.metrics
    if m.self_hosted:
        per_job = per_1m = "self-hosted"
    else:
        unpriced = met.cost_per_token is None  # no price: its $0.00 is no cost
        per_job = "unpriced" if unpriced else usd(met.avg_cost_per_job)
        per_1m = "unpriced" if unpriced else usd(met.cost_per_token * 1_000_000)
    return {
        "Model": m.model,
        "Provider": m.provider,
        "Score": m.efficiency_score,
        "Avg cost / job": per_job,
        "Cost / 1M tokens": per_1m,
        "Avg time": seconds(met.avg_execution_time),
        "Reliability": percent(met.success_rate * 100),
        "Avg tokens": met.avg_tokens,
        "Jobs": met.jobs_count,
    }


priced = [m for m in models if not m.self_hosted]
hosted = [m for m in models if m.self_hosted]
if priced:
    dataframe([_row(m) for m in priced], formats={"Score": "%.1f"})
if hosted:
    st.markdown(
        "**Self-hosted models** — \\$0\\.00 per call in the ledger because the hardware is paid elsewhere: "
        "ranked apart, never compared on cost with priced models."
    )
    dataframe([_row(m) for m in hosted], formats={"Score": "%.1f"})

st.subheader("Recommendations per model")
for m in models:
    label = " · self-hosted" if m.self_hosted else ""
    with st.expander(f"{esc(m.model)} ({esc(m.provider)}{label}) — score {m.efficiency_score:.1f}"):
        parts = m.score_parts
        st.caption(
            f"Cost score {parts.cost if parts.cost is not None else 'n/a'}, speed {parts.speed}, "
            f"reliability {parts.quality}"
        )
        for rec in m.recommendations:
            st.markdown("- " + esc(rec))
