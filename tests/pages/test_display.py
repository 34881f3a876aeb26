"""Every page shows figures one way (core.display): money `$1,234.56` (four decimals under a dollar), counts with
thousands separators (table columns of whole numbers too), times `2026-11-30 09:27 UTC`, plurals right. Each page
runs through AppTest on SQLite and PostgreSQL; nothing it shows may match a format of before."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.alerts import check_alerts
from core.limits.budgets import set_budget, set_price, set_quota
from tests.helpers.apptest import dashboard
from tests.helpers.ledger import load, make_records, month_records

pytestmark = pytest.mark.usefixtures("navigation_mode")

OLD_FORMATS = {
    "dollar sign after the amount": re.compile(r"\d\$"),
    "money with five or more decimals": re.compile(r"\$\d[\d,]*\.\d{5,}"),
    "ISO timestamp": re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}"),
    "one with a plural": re.compile(r"(?<![\d,.])1 (call|job|record|alert|token|error|day|budget|row)s\b"),
}
# $1,234.56 from a dollar up; $0.0123 under it; <$0.0001; $0.00. A minus sign may lead.
MONEY = re.compile(r"-?(\$[1-9]\d{0,2}(,\d{3})*\.\d{2}|\$0\.00|\$0\.\d{4}|<\$0\.0001)")
MONEY_TOKEN = re.compile(r"-?<?\$[\d,.]*\d")
WHEN = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")


@pytest.fixture
def ledger(db):
    recs = [r for r in make_records(now=datetime.now(UTC) - timedelta(minutes=1)) if not r["job_id"].startswith("edge")]
    load(recs + month_records(datetime.now(UTC)))  # the month in progress has spend, the 1st included
    set_budget("Acme Corp", "86")
    set_quota("Beta", "openai", monthly_usd="0.5")
    set_price("acme", "custom-*", "2.5", "10")
    check_alerts()  # Beta's quota is exceeded: an alert whose message holds money and tokens
    st.cache_data.clear()


def _cells(df) -> list[str]:
    return [str(c) for c in df.reset_index().to_numpy().ravel().tolist() if isinstance(c, str)]


def shown(at) -> list[str]:
    """Every text the page shows: headings, markdown, captions, texts, notices, metric labels, values, deltas and
    help, st.table and st.dataframe text cells and headers, select options, expander, link and button labels."""
    out = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "text", "warning", "info", "error", "success"):
        out += [e.value for e in getattr(at, kind)]
    for m in at.metric:
        out += [m.label, m.value, m.proto.delta, m.proto.help]
    for t in list(at.table) + list(at.dataframe):
        out += _cells(t.value) + [str(c) for c in t.value.columns]
    for s in at.selectbox:
        out += list(s.options)
    out += [e.label for e in at.expander]
    for kind in ("page_link", "download_button", "progress"):
        out += [getattr(e.proto, "label", "") or getattr(e.proto, "text", "") for e in at.get(kind)]
    return [o.replace("\\", "") for o in out if o]  # markdown escapes are not shown


def check(at) -> list[str]:
    assert not at.exception
    texts = shown(at)
    for name, pattern in OLD_FORMATS.items():
        bad = [t for t in texts if pattern.search(t)]
        assert not bad, f"{name}: {bad[:3]}"
    for t in texts:
        for token in MONEY_TOKEN.findall(t):
            assert MONEY.fullmatch(token), f"{token!r} in {t!r}"
    for df in at.dataframe:
        config = json.loads(df.proto.columns or "{}")
        for name, dtype in df.value.dtypes.items():
            if str(dtype).startswith("int"):  # numbers stay numbers (they sort), shown with separators
                assert config[name]["type_config"]["format"] == ("%d" if name == "id" else "%,d"), name
    return texts


def app(page: str | None = None, **params) -> AppTest:
    return dashboard(page, timeout=60, **params).run()


@pytest.mark.parametrize("page", ["overview", "costs", "efficiency", "stats", "settings", "alerts"])
def test_every_page_shows_one_format(ledger, page):
    texts = check(app(None if page == "overview" else page))
    assert any(MONEY.search(t) for t in texts)
    if page == "settings":
        assert "Acme Corp — all providers ($86.00)" in texts
        assert any(WHEN.fullmatch(t) for t in texts)  # updated / effective from
    if page == "alerts":
        assert any(WHEN.fullmatch(t) for t in texts)  # when each alert opened
        assert any(re.search(r"quota OpenAI at [\d.]+% \(\$\d+\.\d{2} of \$0\.5000 monthly\)", t) for t in texts)


def test_overview_tables_and_costliest_jobs(ledger):
    at = app()
    check(at)
    costliest = at.table[-1].value
    assert all(WHEN.fullmatch(w.replace("\\", "")) for w in costliest["When"])
    assert all(MONEY.fullmatch(c.replace("\\", "")) for c in costliest["Cost"])
    by_model = at.dataframe[1].value
    assert {"Model", "Jobs", "Cost", "Avg tokens"} <= set(by_model.columns)


def test_usage_list_and_detail(ledger):
    at = app("usage")
    check(at)
    rows = at.dataframe[0].value
    assert all(WHEN.fullmatch(w) for w in rows["When"]) and all(MONEY.fullmatch(c) for c in rows["Cost"])
    at = app("usage", id=str(rows["id"].iloc[0]))
    texts = check(at)
    per_million = next(m.value for m in at.metric if m.label == "Cost per 1M tokens")
    assert re.fullmatch(MONEY.pattern + r" / 1M tokens", per_million)
    assert not any("Cost per token" in t for t in texts)


def test_one_unpriced_call_is_one_call(db):
    load(
        [
            {
                "job_id": "lone",
                "created_at": datetime.now(UTC) - timedelta(hours=1),
                "provider": "acme",
                "model": "custom-9",
                "input_tokens": 100,
                "output_tokens": 50,
            }
        ]
    )
    at = app()
    texts = check(at)
    assert any(t.startswith("1 call has no known price") for t in texts)
    at = app("usage")
    texts = check(at)
    assert "1 matching usage record" in texts and "Export the 1 filtered row as CSV" in texts
