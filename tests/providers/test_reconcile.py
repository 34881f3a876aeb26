"""Reconciliation figures: estimated (our ledger, provider-bill rows excluded) against billed (Costs API lines
synced from the fake admin API), per day and model, with the tolerance; and its Streamlit section."""

from datetime import UTC, date, datetime, timedelta

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import config
from core.display import usd
from core.providers.openai_sync import sync_openai
from core.providers.reconcile import reconcile
from core.usage import record_usage
from tests.fakes.openai_admin_server import FakeOpenAIAdmin, cost_result, usage_result

NOW = datetime(2024, 11, 10, 12, 0, tzinfo=UTC)
D1, D2, D3 = date(2024, 11, 1), date(2024, 11, 2), date(2024, 11, 3)


@pytest.fixture
def admin(monkeypatch):
    with FakeOpenAIAdmin(page_size=1) as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_ADMIN_KEY", fake.admin_key)
        config.reset_settings()
        yield fake
    config.reset_settings()


def call(job_id, day, cost_in, cost_out, *, company="Acme", provider="openai", model="gpt-4o-mini", now=NOW):
    record_usage(
        job_id=job_id,
        created_at=f"{day.isoformat()}T10:00:00Z",
        company=company,
        provider=provider,
        model=model,
        input_tokens=100,
        output_tokens=10,
        cost_input=cost_in,
        cost_output=cost_out,
        now=now,
    )


def seed(admin, company="Acme", now=NOW, d1=D1, d2=D2, d3=D3):
    call("a1", d1, "0.40", "0.10", company=company, now=now)
    call("a2", d1, "0.20", "0.05", company=company, now=now)
    call("a3", d2, "0.70", "0.30", company=company, model="gpt-4o-mini-2024-07-18", now=now)
    call("o1", d1, "5", "5", company=company, provider="ollama", model="llama3.1:8b", now=now)  # not OpenAI
    call("x1", d1, "9", "9", company="Other", now=now)  # another company
    admin.usage[d1] = [usage_result("gpt-4o-mini-2024-07-18", "proj_A", 2000, 200, requests=2)]
    admin.costs[d1] = [
        cost_result("0.60", "gpt-4o-mini-2024-07-18, input", "proj_A"),
        cost_result("0.20", "gpt-4o-mini-2024-07-18, output", "proj_A"),
    ]
    admin.costs[d2] = [cost_result("1.00", "gpt-4o-mini-2024-07-18, input", "proj_A")]
    admin.costs[d3] = [cost_result("0.30", "gpt-4o, output", "proj_B")]
    return sync_openai(d1, d3, now=now, company=company)


def test_estimated_vs_billed_per_day_and_model(db, admin):
    s = seed(admin)
    assert s["billed_rows"] == 1, "the synced usage row of Nov 1 carries the billed $0.80"
    r = reconcile(D1, D3, company="Acme", tolerance_pct=5, now=NOW)
    assert r["rows"] == [
        {
            "date": "2024-11-01",
            "model": "gpt-4o-mini",
            "estimated": "0.750000",
            "billed": "0.800000",
            "difference": "-0.050000",
            "difference_pct": -6.25,
            "over_tolerance": True,
            "unpriced_jobs": 0,
        },
        {
            "date": "2024-11-02",
            "model": "gpt-4o-mini",
            "estimated": "1.000000",
            "billed": "1.000000",
            "difference": "0.000000",
            "difference_pct": 0.0,
            "over_tolerance": False,
            "unpriced_jobs": 0,
        },
        {
            "date": "2024-11-03",
            "model": "gpt-4o",
            "estimated": "0.000000",
            "billed": "0.300000",
            "difference": "-0.300000",
            "difference_pct": -100.0,
            "over_tolerance": True,
            "unpriced_jobs": 0,
        },
    ]
    assert r["totals"] == {
        "estimated": "1.750000",
        "billed": "2.100000",
        "difference": "-0.350000",
        "difference_pct": -16.67,
    }
    assert r["days_over_tolerance"] == ["2024-11-01", "2024-11-03"]
    assert [d["synced"] for d in r["days"]] == [True, True, True]
    wider = reconcile(D1, D3, company="Acme", tolerance_pct="10", now=NOW)
    assert wider["days_over_tolerance"] == ["2024-11-03"]


def test_resync_does_not_change_the_figures(db, admin):
    seed(admin)
    before = reconcile(D1, D3, company="Acme", now=NOW)
    sync_openai(D1, D3, now=NOW, company="Acme")
    assert reconcile(D1, D3, company="Acme", now=NOW) == before


def test_unsynced_day_and_unknown_company(db, admin):
    call("a1", D1, "0.40", "0.10")
    r = reconcile(D1, D1, company="Acme", now=NOW)
    assert r["days"] == [
        {
            "date": "2024-11-01",
            "estimated": "0.500000",
            "billed": "0.000000",
            "difference": "0.500000",
            "difference_pct": None,
            "over_tolerance": True,
            "synced": False,
        }
    ]
    empty = reconcile(D1, D1, company="Nobody", now=NOW)
    assert empty["rows"] == [] and empty["company_known"] is False
    with pytest.raises(ValueError):
        reconcile(D2, D1, now=NOW)


@pytest.fixture
def clear_cache():
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def _page(company):
    from ui.reconciliation import render_reconciliation

    render_reconciliation(company)


def test_reconciliation_section_renders(sqlite_db, admin, clear_cache):
    now = datetime.now(UTC)
    today = now.date()
    seed(admin, now=now, d1=today - timedelta(days=2), d2=today - timedelta(days=1), d3=today)
    at = AppTest.from_function(_page, args=("Acme",), default_timeout=30).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    # Amounts in the shared format (core.display): under a dollar with four decimals.
    assert metrics == {
        "Estimated": "$1.75",
        "Billed": "$2.10",
        "Difference": usd("-0.350000"),
        "Days over tolerance": "2",
    }
    table = at.table[0].value
    assert list(table["Date"]) == [(today - timedelta(days=2)).isoformat(), today.isoformat()]
    at.number_input(key="reconcile_tolerance").set_value(10.0).run()
    assert {m.label: m.value for m in at.metric}["Days over tolerance"] == "1"


def test_reconciliation_section_without_data(sqlite_db, clear_cache):
    at = AppTest.from_function(_page, args=(None,), default_timeout=30).run()
    assert not at.exception
    assert "Nothing to reconcile" in at.info[0].value
