"""Pieces every page shares: the figures as core.display shows them, tables whose key columns stay readable,
banners, empty states, the unpriced-usage note. User-supplied text (model, brand, description) is always rendered
as plain text."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa  # st.dataframe sends a pyarrow table as it is; a pandas frame it converts first (10x slower)
import streamlit as st

from core import display
from core.analytics import Unpriced
from ui import cache

_MD_SPECIAL = set("\\`*_{}[]()#+-.!|<>~$:")


def esc(text) -> str:
    """User-supplied text (or a dollar amount) made literal inside markdown: no formatting, no LaTeX ($), no
    links. Streamlit never renders raw HTML here (unsafe_allow_html is never used)."""
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in str(text))


# Every figure on the pages is shown by core.display (the alert messages and notifications use it too).
usd = display.usd
count = display.count
compact = display.compact
percent = display.percent
seconds = display.seconds
when = display.when
day = display.day
plural = display.plural


def delta(change: float | None) -> str | None:
    """A metric delta from a change percentage; None hides it (no previous figure)."""
    return None if change is None else f"{display.change(change)} vs previous"


COUNT_FORMAT = "%,d"  # st.column_config's printf form of display.count: 29,771,536


def dataframe(
    rows: list[dict], *, widths: dict | None = None, formats: dict | None = None, height: int | str = "auto"
) -> None:
    """Rows as a table, every page alike: whole-number columns stay numbers (they sort as numbers) and show
    thousands separators as display.count does; other cells arrive as display strings, or as numbers with a
    printf form in `formats` (a score: "%.1f"). `widths` gives a column its room ("small", "medium", "large" or
    pixels) where the automatic width would cut a key column at 1440 px."""
    table = _arrow_table(rows)
    if table is not None:
        data, names = table, table.column_names
        integer = {field.name for field in table.schema if pa.types.is_integer(field.type)}
    else:
        data = pd.DataFrame(rows)
        names = list(data.columns)
        integer = {name for name in names if pd.api.types.is_integer_dtype(data[name].dtype)}
    config = {}
    for name in names:
        width, fmt = (widths or {}).get(name), (formats or {}).get(name)
        if fmt is None and name in integer:
            fmt = COUNT_FORMAT
        if fmt is not None:
            config[name] = st.column_config.NumberColumn(format=fmt, width=width)
        elif width is not None:
            config[name] = st.column_config.Column(width=width)
    st.dataframe(data, hide_index=True, width="stretch", height=height, column_config=config)


def _arrow_table(rows: list[dict]):
    """The rows as a pyarrow table, columns in the order pandas gives them; None without rows, or where a column
    mixes types (pandas' path shows those as text)."""
    if not rows:
        return None
    names = dict.fromkeys(name for row in rows for name in row)
    try:
        return pa.table({name: pa.array([row.get(name) for row in rows]) for name in names})
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None


def status_banners() -> None:
    """Demo data and worker health, shown on every page (called by dashboard.py before the page)."""
    info = cache.status()
    if info["demo"]:
        st.warning(
            "**Demo data.** These figures are synthetic; `python -m core demo --clear` removes them.",
            icon=":material/science:",
        )
    worker = info["worker"]
    if worker["state"] == "stale":
        minutes = (worker["age_seconds"] or 0) // 60
        st.sidebar.error(
            f"Worker stale: last heartbeat {minutes} min ago. Alerts and the daily probe are not "
            "running; start `python worker.py`.",
            icon=":material/warning:",
        )
    elif worker["state"] == "never":
        st.sidebar.caption("No worker heartbeat yet (alerts and the probe run in `python worker.py`).")
    else:
        st.sidebar.caption("Worker: running")


def empty_state(message: str, hint: str | None = None) -> None:
    st.info(message, icon=":material/inbox:")
    if hint:
        st.caption(hint)


def no_data_hint() -> str:
    return (
        "Record calls with `core.ingest.record.record_usage(...)`, import a file with `python -m core import FILE`, "
        "or load demo data with `python -m core demo`."
    )


def unpriced_note(unpriced: Unpriced) -> None:
    """Unpriced calls add nothing to the costs shown: say how many, and which models."""
    if not unpriced.jobs:
        return
    models = ", ".join(f"{esc(m.provider)}/{esc(m.model)} ({count(m.jobs)})" for m in unpriced.models[:6])
    more = "" if len(unpriced.models) <= 6 else f" and {count(len(unpriced.models) - 6)} more"
    have = "has" if unpriced.jobs == 1 else "have"
    them = "the model" if len(unpriced.models) == 1 else "them"
    st.warning(
        f"{plural(unpriced.jobs, 'call')} {have} no known price and count \\$0\\.00 in these costs: "
        f"{models}{more}. Price {them} in Settings or with `python -m core price set …`.",
        icon=":material/money_off:",
    )


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
