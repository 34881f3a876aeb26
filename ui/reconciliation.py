"""Reconciliation section of the Costs page: our estimate against a provider's bill per day and model, for every
billed provider (core.providers.bills: OpenAI, Anthropic), one at a time through a selector.

UI only: the figures come from core.providers.reconcile through st.cache_data (dicts, never sessions).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import streamlit as st

from core.config import get_settings
from core.display import change, count, usd
from core.providers.bills import BILLED
from core.providers.reconcile import reconcile
from ui.common import dataframe, esc

TTL = 60


@st.cache_data(ttl=TTL, show_spinner=False)
def _reconcile(db: str, provider: str, company: str | None, since: date, until: date, tolerance: str) -> dict:
    return reconcile(since, until, company=company, provider=provider, tolerance_pct=Decimal(tolerance))


def _pct(value: float | None) -> str:
    """Signed difference in % of the bill (one decimal); — when nothing was billed."""
    return change(value)


def _month_days(month: str, today: date) -> tuple[date, date] | None:
    """First and last day of "YYYY-MM" up to today; None for a month that has not started."""
    y, m = (int(p) for p in month.split("-", 1))
    first = date(y, m, 1)
    last = date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)
    return None if first > today else (first, min(last, today))


def render_reconciliation(
    company: str | None, *, month: str | None = None, provider: str | None = None, brand: str | None = None
) -> None:
    """Estimated (ledger) vs billed (the provider's synced bill) per day and model, with the days over tolerance.

    The page's provider filter picks the bill when it names a billed provider; with no provider filter a selector
    offers each billed provider. With `month` ("YYYY-MM", the Costs page's choice) the period is that month up to
    today; without it, two date pickers (the last 30 days by default). A bill has no brand: `brand` only changes
    what is said.
    """
    settings = get_settings()
    if provider and provider not in BILLED:
        st.subheader("Reconciliation with a provider's bill")
        st.caption(
            f"The provider filter is {provider}: bills are read for "
            f"{' and '.join(b.label for b in BILLED.values())} only. Choose one of them or all providers "
            "to see its reconciliation."
        )
        return
    head = st.empty()  # the title names the bill chosen below it
    if provider:
        bill = BILLED[provider]
    else:
        name = st.radio(
            "Bill", list(BILLED), key="reconcile_provider", horizontal=True, format_func=lambda n: BILLED[n].label
        )
        bill = BILLED[name]
    head.subheader(f"Reconciliation with the {bill.label} bill")
    today = datetime.now(UTC).date()
    if month:
        days = _month_days(month, today)
        if days is None:
            st.caption(f"{month} has not started: nothing to reconcile yet.")
            return
        since, until = days
        tolerance = st.number_input(
            "Tolerance (%)",
            min_value=0.0,
            max_value=1000.0,
            step=0.5,
            value=float(settings.reconcile_tolerance_pct),
            key="reconcile_tolerance",
        )
    else:
        c1, c2, c3 = st.columns(3)
        since = c1.date_input("From", today - timedelta(days=29), key="reconcile_since")
        until = c2.date_input("To", today, key="reconcile_until")
        tolerance = c3.number_input(
            "Tolerance (%)",
            min_value=0.0,
            max_value=1000.0,
            step=0.5,
            value=float(settings.reconcile_tolerance_pct),
            key="reconcile_tolerance",
        )
        if since > until:
            st.warning("The start date is after the end date.")
            return
    # The tolerance goes through str so no binary float reaches the Decimal comparison.
    data = _reconcile(settings.database_url, bill.name, company or None, since, until, f"{tolerance:.4f}")
    scope = f"company {company}" if company else "all companies"
    st.caption(
        f"{since.isoformat()} → {until.isoformat()} (UTC), {scope}"
        + (" (the bill has no brand: the whole company is compared)" if brand else "")
        + f". Estimated: our ledger's {bill.label} cost (provider-bill imports excluded). Billed: the cost "
        f"lines of {bill.what} synced with `python -m core sync {bill.name}`. "
        f"Tolerance ±{data['tolerance_pct']:g}%."
    )
    if not data["rows"]:
        st.info(
            f"Nothing to reconcile in this period: no {bill.label} usage in the ledger and no synced bill. "
            f"Run `python -m core sync {bill.name} --since YYYY-MM-DD` (needs {bill.key_setting})."
        )
        return
    t = data["totals"]
    m = st.columns(4)
    m[0].metric("Estimated", usd(t["estimated"]))
    m[1].metric("Billed", usd(t["billed"]))
    m[2].metric("Difference", usd(t["difference"]), _pct(t["difference_pct"]), delta_color="off")
    m[3].metric("Days over tolerance", count(len(data["days_over_tolerance"])))
    over = [d for d in data["days"] if d["over_tolerance"]]
    if over:
        st.markdown("**Days over tolerance**")
        # st.table renders markdown: amounts are escaped so "$" never opens a formula.
        st.table(
            pd.DataFrame(
                [
                    {
                        "Date": d["date"],
                        "Estimated": esc(usd(d["estimated"])),
                        "Billed": esc(usd(d["billed"])),
                        "Difference": esc(usd(d["difference"])),
                        "Difference %": esc(_pct(d["difference_pct"])),
                        "Bill synced": "yes" if d["synced"] else "no",
                    }
                    for d in over
                ]
            )
        )
    else:
        st.success("Every day is within the tolerance.")
    st.markdown("**Per day and model**")
    dataframe(
        [
            {
                "Date": r["date"],
                "Model": r["model"],
                "Estimated": usd(r["estimated"]),
                "Billed": usd(r["billed"]),
                "Difference": usd(r["difference"]),
                "Difference %": _pct(r["difference_pct"]),
                "Over tolerance": "yes" if r["over_tolerance"] else "no",
            }
            for r in data["rows"]
        ],
        widths={"Model": "large"},
    )
