"""Reconciliation section of the Costs page: our estimate against OpenAI's bill per day and model.

UI only: the figures come from core.reconcile through st.cache_data (dicts, never sessions).
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import streamlit as st

from core.config import get_settings
from core.reconcile import reconcile

TTL = 60


@st.cache_data(ttl=TTL, show_spinner=False)
def _reconcile(db: str, company: str | None, since: date, until: date, tolerance: str) -> dict:
    return reconcile(since, until, company=company, tolerance_pct=Decimal(tolerance))


def _usd(value: str) -> str:
    d = Decimal(value)
    sign = "-" if d < 0 else ""
    return f"{sign}${abs(d):,.2f}" if abs(d) >= Decimal("0.01") or d == 0 else f"{sign}${abs(d):,.6f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}%"


def render_reconciliation(company: str | None) -> None:
    """Estimated (ledger) vs billed (OpenAI Costs API) per day and model, with the days over tolerance."""
    settings = get_settings()
    st.subheader("Reconciliation with the OpenAI bill")
    today = datetime.now(UTC).date()
    c1, c2, c3 = st.columns(3)
    since = c1.date_input("From", today - timedelta(days=29), key="reconcile_since")
    until = c2.date_input("To", today, key="reconcile_until")
    tolerance = c3.number_input("Tolerance (%)", min_value=0.0, max_value=1000.0, step=0.5,
                                value=float(settings.reconcile_tolerance_pct), key="reconcile_tolerance")
    if since > until:
        st.warning("The start date is after the end date.")
        return
    # The tolerance goes through str so no binary float reaches the Decimal comparison.
    data = _reconcile(settings.database_url, company or None, since, until, f"{tolerance:.4f}")
    st.caption(f"Estimated: our ledger's OpenAI cost (provider-bill imports excluded). Billed: the Costs API "
               f"lines synced with `python -m core sync openai`. Tolerance ±{data['tolerance_pct']:g}%.")
    if not data["rows"]:
        st.info("Nothing to reconcile in this period: no OpenAI usage in the ledger and no synced bill. "
                "Run `python -m core sync openai --since YYYY-MM-DD` (needs OPENAI_ADMIN_KEY).")
        return
    t = data["totals"]
    m = st.columns(4)
    m[0].metric("Estimated", _usd(t["estimated"]))
    m[1].metric("Billed", _usd(t["billed"]))
    m[2].metric("Difference", _usd(t["difference"]), _pct(t["difference_pct"]), delta_color="off")
    m[3].metric("Days over tolerance", str(len(data["days_over_tolerance"])))
    over = [d for d in data["days"] if d["over_tolerance"]]
    if over:
        st.markdown("**Days over tolerance**")
        st.table(pd.DataFrame([{"Date": d["date"], "Estimated": _usd(d["estimated"]), "Billed": _usd(d["billed"]),
                                "Difference": _usd(d["difference"]), "Difference %": _pct(d["difference_pct"]),
                                "Bill synced": "yes" if d["synced"] else "no"} for d in over]))
    else:
        st.success("Every day is within the tolerance.")
    st.markdown("**Per day and model**")
    st.dataframe(pd.DataFrame([{"Date": r["date"], "Model": r["model"], "Estimated": r["estimated"],
                                "Billed": r["billed"], "Difference": r["difference"],
                                "Difference %": r["difference_pct"], "Over tolerance": r["over_tolerance"]}
                               for r in data["rows"]]), hide_index=True, width="stretch")
