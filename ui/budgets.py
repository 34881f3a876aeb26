"""The budget status board on the pages: each budget and quota on its own row, worst first (never a sum across
companies), and the budgets at risk at the top of the Overview, each linking to its Costs view."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import display
from core.analytics import BudgetItem, BudgetStatus
from ui.common import esc

STATUS_LABEL = {"ok": "OK", "warning": "Warning", "critical": "Critical", "exceeded": "Exceeded"}
STATUS_ICON = {
    "ok": ":material/check_circle:",
    "warning": ":material/warning:",
    "critical": ":material/error:",
    "exceeded": ":material/block:",
}


def scope_label(item: BudgetItem) -> str:
    """Humari · all providers / Humari · openai quota."""
    if item.kind == "quota":
        return f"{item.company} · {item.provider} quota"
    return f"{item.company} · {item.provider or 'all providers'}"


def limit_text(item: BudgetItem) -> str:
    parts = []
    if item.limit_usd is not None:
        parts.append(display.usd(item.limit_usd))
    if item.limit_tokens is not None:
        parts.append(f"{display.count(item.limit_tokens)} tokens")
    return " and ".join(parts) or display.DASH


def headline(item: BudgetItem) -> str:
    """Humari · all providers — 84.6% used, runs out on 4 Dec 2026."""
    text = f"{scope_label(item)} — {display.percent(item.percentage)} used"
    if item.runs_out_on:
        verb = "ran out on" if item.status == "exceeded" else "runs out on"
        text += f", {verb} {display.day(item.runs_out_on)}"
    else:
        text += ", holds to the month's end"
    return text


def render_board(status: BudgetStatus) -> None:
    """Every budget and quota in scope, worst first."""
    items = status.items
    if not items:
        st.caption(
            "No budget or quota in this scope: set one in Settings or with `python -m core budget set "
            "--company NAME --monthly-usd AMOUNT`."
        )
        return
    rows = [
        {
            "Status": STATUS_LABEL[i.status],
            "Company": i.company,
            "Provider": i.provider or "all providers",
            "Kind": i.kind,
            "Limit": limit_text(i),
            "Spent": display.usd(i.spent_usd),
            "Tokens": display.count(i.spent_tokens),
            "Used": display.percent(i.percentage),
            "Projected month end": display.usd(i.projected_usd),
            "Runs out": display.day(i.runs_out_on) if i.runs_out_on else "holds",
        }
        for i in items
    ]
    # st.table: every cell readable at any width (a dataframe cuts columns), and company names are escaped.
    st.table(pd.DataFrame([{k: esc(v) for k, v in r.items()} for r in rows]).set_index("Status"))


def render_at_risk(status: BudgetStatus) -> None:
    """Budgets and quotas at warning or worse, each a link to its Costs view (Overview)."""
    risky = [i for i in status.items if i.status != "ok"]
    if not risky:
        return
    worst = risky[0].status
    box = st.error if worst in ("critical", "exceeded") else st.warning
    box(
        f"**{display.plural(len(risky), 'budget')} at risk this month.** Worst: {esc(headline(risky[0]))}.",
        icon=":material/savings:",
    )
    for item in risky[:6]:
        params = {"company": item.company} | ({"provider": item.provider} if item.provider else {})
        st.page_link("pages/costs.py", label=esc(headline(item)), icon=STATUS_ICON[item.status], query_params=params)
    if len(risky) > 6:
        st.caption(f"… and {len(risky) - 6} more on the Costs page.")
