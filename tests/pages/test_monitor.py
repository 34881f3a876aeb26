"""The Monitor pages through AppTest: each renders with data and without, filters change the figures (and live in
the URL, and hold across pages), demo data and a stale worker are flagged."""

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
import streamlit as st

from core.storage.db import session_scope
from core.storage.models import WorkerHeartbeat, WorkerState
from tests.helpers.apptest import app_test, dashboard
from tests.helpers.ledger import csum, load, make_records, month_records, raw_rows

pytestmark = pytest.mark.usefixtures("navigation_mode")

PAGES = ["overview", "costs", "trends", "efficiency", "stats"]


@pytest.fixture
def ledger(db):
    recs = [r for r in make_records(now=datetime.now(UTC) - timedelta(minutes=1)) if not r["job_id"].startswith("edge")]
    recs += month_records(datetime.now(UTC))  # the Costs page shows the month in progress, the 1st included
    load(recs)
    return raw_rows(db)


def in_days(rows, days, **match):
    now = datetime.now(UTC)
    return [
        r
        for r in rows
        if now - timedelta(days=days) <= r.created_at <= now and all(getattr(r, k) == v for k, v in match.items())
    ]


def values(arr) -> list[float]:
    """Plotly arrays arrive as lists or as typed base64 buffers."""
    if isinstance(arr, dict):
        return list(np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"])))
    return list(arr)


def plain(markdown: str) -> str:
    return markdown.replace("\\", "")


def metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def usd2(d: Decimal) -> str:
    return f"${d.quantize(Decimal('0.01')):,.2f}"


def test_overview_figures_match_the_ledger(ledger):
    at = app_test()
    assert not at.exception
    picked = in_days(ledger, 30)
    assert metric(at, "Jobs") == f"{len(picked):,}"
    assert metric(at, "Cost") == usd2(csum(picked))
    assert metric(at, "Tokens") == f"{sum(r.tokens for r in picked):,}"
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["title"]["text"] == "Daily cost by provider"
    assert spec["layout"]["yaxis"]["title"]["text"] == "Cost (USD)"
    drawn = sum(sum(values(trace["y"])) for trace in spec["data"])
    assert {t["name"] for t in spec["data"]} == {r.provider for r in picked}
    assert drawn == pytest.approx(float(csum(picked)), abs=0.01)
    # Unpriced calls are counted and named.
    unpriced = sum(r.pricing_status == "unpriced" for r in picked)
    assert any(
        plain(w.value).startswith(f"{unpriced} calls have no known price") and "acme/custom-1" in plain(w.value)
        for w in at.warning
    )


def test_overview_filters_change_figures_and_live_in_the_url(ledger):
    at = app_test()
    at.sidebar.selectbox(key="qp_provider").set_value("openai").run()
    assert at.query_params["provider"] == ["openai"] or at.query_params["provider"] == "openai"
    assert metric(at, "Jobs") == f"{len(in_days(ledger, 30, provider='openai')):,}"
    at.radio(key="qp_days").set_value("7").run()
    assert 0 < len(in_days(ledger, 7, provider="openai")) < len(in_days(ledger, 30, provider="openai"))
    assert metric(at, "Jobs") == f"{len(in_days(ledger, 7, provider='openai')):,}"
    # The provider filter holds on the other pages.
    at.switch_page("pages/costs.py").run()
    now = datetime.now(UTC)
    month = [
        r for r in ledger if (r.created_at.year, r.created_at.month) == (now.year, now.month) and r.provider == "openai"
    ]
    assert metric(at, "Cost this month") == usd2(csum(month))


def test_shared_link_opens_the_filtered_view(ledger):
    at = dashboard()
    at.query_params["company"] = "Beta"
    at.query_params["days"] = "90"
    at.run()
    assert not at.exception
    assert metric(at, "Jobs") == f"{len(in_days(ledger, 90, company='Beta')):,}"
    assert at.sidebar.selectbox(key="qp_company").value == "Beta"


@pytest.mark.parametrize("page", PAGES)
def test_each_page_renders_a_figure(ledger, page):
    at = app_test(page)
    assert not at.exception
    assert at.title[0].value == page.capitalize()
    assert at.get("plotly_chart"), "every Monitor page draws at least one chart"
    for chart in at.get("plotly_chart"):
        layout = json.loads(chart.proto.spec)["layout"]
        assert layout["title"]["text"]
    if page == "costs":
        now = datetime.now(UTC)
        month = [r for r in ledger if (r.created_at.year, r.created_at.month) == (now.year, now.month)]
        assert metric(at, "Cost this month") == usd2(csum(month))
    elif page == "stats":
        assert metric(at, "Jobs") == f"{len(ledger):,}"
    elif page == "trends":
        assert metric(at, "Volatility") in {"Low", "Moderate", "High"}
    elif page == "efficiency":
        # Too few jobs per model in this ledger's period to name the cheapest (20 needed).
        assert metric(at, "Cheapest per job") in {r.model for r in ledger} | {"—"}
        assert metric(at, "Most reliable") in {r.model for r in ledger}


def test_trends_and_costs_controls(ledger):
    at = app_test("trends")
    at.radio(key="qp_metric").set_value("jobs").run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["yaxis"]["title"]["text"] == "Jobs (calls)"
    at.radio(key="qp_period").set_value("month").run()
    table = at.table[0].value
    assert table["Jobs"].str.replace(",", "").astype(int).sum() == len(ledger)
    at.switch_page("pages/costs.py").run()
    options = at.selectbox(key="qp_month").options
    previous = options[1]
    at.selectbox(key="qp_month").set_value(previous).run()
    y, m = (int(x) for x in previous.split("-"))
    month = [r for r in ledger if (r.created_at.year, r.created_at.month) == (y, m)]
    assert metric(at, "Cost this month") == usd2(csum(month))


def test_trends_draws_the_week_in_progress_as_such(db):
    now = datetime.now(UTC)
    week = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=now.weekday())
    days = [week - timedelta(days=7 * n - 2) for n in (3, 2, 1)] + [max(week, now - timedelta(seconds=1))]
    load(
        [
            {
                "job_id": f"w{i}",
                "created_at": day,
                "provider": "openai",
                "model": "gpt-4o",
                "input_tokens": 10,
                "output_tokens": 10,
                "cost_input": cost,
                "cost_output": "0",
            }
            for i, (day, cost) in enumerate(zip(days, ["100", "100", "100", "1.40"]))
        ]
    )
    at = app_test("trends")
    assert not at.exception
    table = at.table[0].value
    assert [plain(c) for c in table["Change"]] == ["—", "+0.0%", "+0.0%", "in progress"]
    assert plain(table.index[-1]).endswith("(so far)")
    assert metric(at, "Average growth") == "+0.0%" and metric(at, "Trend") == "→ stable"
    assert any("3 complete weeks" in c.value and "in progress" in c.value for c in at.caption)
    bar = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert list(bar["text"]) == ["", "+0.0%", "+0.0%", "so far"]
    assert list(bar["marker"]["pattern"]["shape"]) == ["", "", "", "/"]


@pytest.mark.parametrize("page", PAGES)
def test_empty_database_shows_an_empty_state(db, page):
    at = app_test(page)
    assert not at.exception
    assert any("No AI usage" in i.value for i in at.info)


def test_single_record_single_provider(db):
    load(
        [
            {
                "job_id": "only",
                "created_at": datetime.now(UTC) - timedelta(hours=1),
                "provider": "openai",
                "model": "gpt-4o",
                "input_tokens": 100,
                "output_tokens": 50,
                "cost_input": "0.25",
                "cost_output": "0.5",
            }
        ]
    )
    for page in PAGES:
        at = app_test(page)
        assert not at.exception, page
    at = app_test()
    assert metric(at, "Jobs") == "1" and metric(at, "Cost") == "$0.7500"  # four decimals under a dollar


def test_unknown_filter_value_in_url_shows_empty_state(ledger):
    at = dashboard()
    at.query_params["provider"] = "nobody"
    at.run()
    assert not at.exception
    assert any("No AI usage" in i.value for i in at.info)


def test_demo_banner_and_stale_worker(ledger):
    at = app_test()
    assert not any("Demo data" in w.value for w in at.warning)
    assert any("No worker heartbeat yet" in c.value for c in at.sidebar.caption)
    now = datetime.now(UTC)
    with session_scope() as s:
        s.add(WorkerState(key="demo_data", value="seed=1", updated_at=now))
        s.add(
            WorkerHeartbeat(
                worker_id="w:1",
                hostname="w",
                pid=1,
                started_at=now - timedelta(days=1),
                last_beat_at=now - timedelta(hours=3),
            )
        )
    st.cache_data.clear()
    for page in PAGES + ["usage", "settings"]:
        at = app_test(page)
        assert at.title[0].value == page.capitalize()
        assert any("Demo data" in w.value for w in at.warning), page
        assert any("Worker stale: last heartbeat 180 min ago" in e.value for e in at.sidebar.error), page


def test_custom_range_and_its_link(ledger):
    today = datetime.now(UTC).date()
    start, end = today - timedelta(days=40), today - timedelta(days=10)
    at = dashboard()
    at.query_params.update({"days": "custom", "start": start.isoformat(), "end": end.isoformat()})
    at.run()
    assert not at.exception
    picked = [r for r in ledger if start <= r.created_at.date() <= end]
    assert metric(at, "Jobs") == f"{len(picked):,}"
    assert at.date_input(key="qp_start").value == start
    # Efficiency has no custom range: it shows 30 days and leaves the Overview's choice in the URL.
    at.switch_page("pages/efficiency.py").run()
    assert at.radio(key="qp_days").value == "30"
    assert at.query_params["days"] in ("custom", ["custom"])


def _calls(prefix, n, model, cost, provider="openai", operation="document-summary"):
    start = datetime.now(UTC) - timedelta(days=5)  # inside the page's default period (the Overview's 7 days)
    out = []
    for i in range(n):
        rec = {
            "job_id": f"{prefix}-{i}",
            "created_at": start + timedelta(minutes=7 * i),
            "company": "Acme",
            "provider": provider,
            "model": model,
            "operation": operation,
            "input_tokens": 900,
            "output_tokens": 100,
            "execution_time_seconds": "2",
        }
        if cost is not None:
            rec |= {"cost_input": cost, "cost_output": "0"}
        out.append(rec)
    return out


def test_efficiency_page_shows_savings_and_self_hosted_apart(db):
    load(
        _calls("a", 100, "gpt-4o", "0.05")
        + _calls("b", 50, "gpt-4o-mini", "0.01")
        + _calls("l", 40, "llama3.1:8b", None, provider="ollama")
    )
    at = app_test("efficiency")
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert "Most cost-effective" not in labels and "Highest quality" not in labels
    assert metric(at, "Cheapest per job") == "gpt-4o-mini"
    assert metric(at, "Most reliable") in {"gpt-4o", "gpt-4o-mini", "llama3.1:8b"}
    assert metric(at, "Saving if every proposal is followed") == "$4.00 / month"
    table = at.table[0].value
    row = {k: plain(str(v)) for k, v in table.reset_index().iloc[0].items()}
    assert row == {
        "Company": "Acme",
        "Operation": "document-summary",
        "From": "gpt-4o (openai)",
        "To": "gpt-4o-mini (openai)",
        "Calls (30 days)": "100",
        "From avg / job": "$0.0500",
        "To avg / job": "$0.0100",
        "To reliability": "100.0%",
        "Saving / month": "$4.00",
    }
    texts = [plain(m.value) for m in at.markdown]
    assert any(t.startswith("**Self-hosted models**") for t in texts)
    assert any("document-summary: gpt-4o → gpt-4o-mini saves ≈ $4.00/month" in t for t in texts)
    assert not [t for t in texts if "complex" in t.lower() or "success rate" in t.lower()]


def test_costs_page_shows_the_reconciliation_on_demo_data(db):
    from core.display import count, usd
    from core.ingest.demo import BILL_GAPS, load_demo
    from core.providers.reconcile import reconcile

    load_demo(seed=3, days=30)
    today = datetime.now(UTC).date()
    at = app_test("costs")
    assert not at.exception
    assert "Reconciliation with the OpenAI bill" in [h.value for h in at.subheader]
    r = reconcile(today.replace(day=1), today)
    assert r["rows"], "the demo bills the month's OpenAI calls"
    assert metric(at, "Estimated") == usd(r["totals"]["estimated"])
    assert metric(at, "Billed") == usd(r["totals"]["billed"])
    assert metric(at, "Days over tolerance") == count(len(r["days_over_tolerance"]))
    # The month holding a day the bill disagrees on: that day is listed, with its figures.
    gap = today - timedelta(days=min(BILL_GAPS))
    at.selectbox(key="qp_month").set_value(gap.strftime("%Y-%m")).run()
    assert not at.exception
    month = reconcile(
        gap.replace(day=1), min(today, (gap.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1))
    )
    day = next(x for x in month["days"] if x["date"] == gap.isoformat())
    assert day["over_tolerance"] and day["synced"]
    over = next(t.value for t in at.table if "Difference %" in t.value.columns)
    rows = {d: (plain(e), plain(b)) for d, e, b in zip(over["Date"], over["Estimated"], over["Billed"])}
    assert rows[gap.isoformat()] == (usd(day["estimated"]), usd(day["billed"]))
    assert metric(at, "Days over tolerance") == count(len(month["days_over_tolerance"]))


def test_a_period_without_timed_calls_shows_a_dash_not_zero_seconds(db):
    """Calls recorded without an execution time: the average is not measured ("—"), not "0.00 s"; an older timed
    call has its own average, and the day without one shows "—"."""
    now = datetime.now(UTC)
    recent, older = now - timedelta(hours=1), now - timedelta(days=10)
    untimed = [
        {
            "job_id": f"u{i}",
            "created_at": recent - timedelta(minutes=i),
            "provider": "openai",
            "model": "gpt-4o",
            "input_tokens": 100,
            "output_tokens": 50,
        }
        for i in range(3)
    ]
    load(
        untimed
        + [
            {
                "job_id": "timed",
                "created_at": older,
                "provider": "openai",
                "model": "gpt-4o",
                "input_tokens": 100,
                "output_tokens": 50,
                "execution_time_seconds": "1.5",
            }
        ]
    )
    at = app_test()  # 30 days: one timed call among four
    assert not at.exception
    assert [m.value for m in at.metric if m.label == "Avg execution time"] == ["1.50 s", "1.50 s"]
    daily = at.dataframe[-1].value
    days = {(recent - timedelta(minutes=i)).date().isoformat() for i in range(3)}
    assert dict(zip(daily["Day"], daily["Avg execution time"])) == {d: "—" for d in days} | {
        older.date().isoformat(): "1.50 s"
    }
    at.radio(key="qp_days").set_value("7").run()  # the untimed calls alone
    assert not at.exception and metric(at, "Jobs") == "3"
    assert [m.value for m in at.metric if m.label == "Avg execution time"] == ["—", "—"]
    at.switch_page("pages/efficiency.py").run()  # the Overview's 7 days
    assert not at.exception
    assert list(at.dataframe[0].value["Avg time"]) == ["—"]
    assert metric(at, "Fastest") == "—"
    at.switch_page("pages/stats.py").run()  # lifetime: the timed call
    assert not at.exception and metric(at, "Avg execution time") == "1.50 s"
