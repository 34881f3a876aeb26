"""Pieces every page shares: display formatting (rounding happens only here), banners, empty states, the
unpriced-usage note. User-supplied text (model, brand, description) is always rendered as plain text."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import streamlit as st

from ui import cache


_MD_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:")


def esc(text) -> str:
    """User-supplied text (or a dollar amount) made literal inside markdown: no formatting, no LaTeX ($), no
    links. Streamlit never renders raw HTML here (unsafe_allow_html is never used)."""
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in str(text))


def usd(value, places: int | None = None) -> str:
    """$1,234.57 (cents), or more decimals for amounts under a dollar so small costs do not show as $0.00."""
    if value is None:
        return "—"
    d = Decimal(str(value))
    if d < 0:
        return "-" + usd(-d, places)
    if places is None and 0 < d < Decimal("0.00005"):
        return "<$0.0001"
    small = places is None and 0 < abs(d) < 1
    if places is None:
        places = 4 if small else 2
    q = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{q:,.{places}f}"
    if small:  # $0.7500 -> $0.75, $0.0120 -> $0.012: four decimals only where they say something
        text = text.rstrip("0")
        text += "0" * max(0, 2 - len(text.split(".")[1]))
    return "$" + text


def count(value) -> str:
    return "—" if value is None else f"{int(value):,}"


def compact(value) -> str:
    """Large counts in a metric tile: 42,563,146 -> 42.56M (exact figures are in the tables)."""
    if value is None:
        return "—"
    n = int(value)
    for size, suffix in ((10**9, "B"), (10**6, "M")):
        if abs(n) >= size:
            return f"{n / size:,.2f}{suffix}"
    return f"{n:,}"


def percent(value) -> str:
    return "—" if value is None else f"{value:.1f}%"


def seconds(value) -> str:
    return "—" if value is None else f"{value:.2f} s"


def delta(change: float | None) -> str | None:
    """A metric delta from a change percentage; None hides it (no previous figure)."""
    return None if change is None else f"{change:+.1f}% vs previous"


def status_banners() -> None:
    """Demo data and worker health, shown on every page (called by dashboard.py before the page)."""
    info = cache.status()
    if info["demo"]:
        st.warning("**Demo data.** These figures are synthetic; `python -m core demo --clear` removes them.",
                   icon=":material/science:")
    worker = info["worker"]
    if worker["state"] == "stale":
        minutes = (worker["age_seconds"] or 0) // 60
        st.sidebar.error(f"Worker stale: last heartbeat {minutes} min ago. Alerts and the daily probe are not "
                         "running; start `python worker.py`.", icon=":material/warning:")
    elif worker["state"] == "never":
        st.sidebar.caption("No worker heartbeat yet (alerts and the probe run in `python worker.py`).")
    else:
        st.sidebar.caption("Worker: running")


def empty_state(message: str, hint: str | None = None) -> None:
    st.info(message, icon=":material/inbox:")
    if hint:
        st.caption(hint)


def no_data_hint() -> str:
    return ("Record calls with `core.usage.record_usage(...)`, import a file with `python -m core import FILE`, "
            "or load demo data with `python -m core demo`.")


def unpriced_note(unpriced: dict) -> None:
    """Unpriced calls add nothing to the costs shown: say how many, and which models."""
    if not unpriced or not unpriced.get("jobs"):
        return
    models = ", ".join(f"{esc(m['provider'])}/{esc(m['model'])} ({m['jobs']:,})" for m in unpriced["models"][:6])
    more = "" if len(unpriced["models"]) <= 6 else f" and {len(unpriced['models']) - 6} more"
    st.warning(f"{unpriced['jobs']:,} calls have no known price and count \\$0 in these costs: {models}{more}. "
               "Price them in Settings or with `python -m core price set …`.", icon=":material/money_off:")


def scope_caption(scope: dict, names: dict | None = None) -> None:
    parts = []
    if scope.get("company"):
        parts.append(f"company {scope['company']}")
    if scope.get("brand"):
        parts.append(f"brand {(names or {}).get(str(scope['brand']), scope['brand'])}")
    if scope.get("provider"):
        parts.append(f"provider {scope['provider']}")
    if parts:
        st.caption("Filtered: " + esc(", ".join(parts)) + " (change in the sidebar).")
