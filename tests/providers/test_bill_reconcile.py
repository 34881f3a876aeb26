"""Reconciliation for every billed provider from one implementation: Anthropic's synced cost report against our
estimate of Anthropic calls, as OpenAI's; and the Costs page section's bill selector."""

from datetime import UTC, date, datetime, timedelta

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import config
from core.display import usd
from core.providers.anthropic_sync import sync_anthropic
from core.providers.reconcile import reconcile
from core.usage import record_usage
from tests.fakes.anthropic_admin_server import (
    FakeAnthropicAdmin,
    cost_result,
    usage_result,
)

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
D1, D2, D3 = date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)
SONNET = "claude-sonnet-4-20250514"


@pytest.fixture
def admin(monkeypatch):
    monkeypatch.setattr("core.providers.bill_sync.RETRY_DELAY_SECONDS", 0)
    with FakeAnthropicAdmin(page_size=1) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", fake.admin_key)
        config.reset_settings()
        yield fake
    config.reset_settings()


def call(job_id, day, cost_in, cost_out, *, company="Acme", provider="anthropic", model="claude-sonnet-4", now=NOW):
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
    call("a2", d2, "0.70", "0.30", company=company, model=SONNET, now=now)
    call("o1", d1, "5", "5", company=company, provider="openai", model="gpt-4o", now=now)  # not Anthropic
    admin.usage[d1] = [usage_result(SONNET, "wrkspc_A", uncached=2000, output=200, shape="flat")]
    admin.costs[d1] = [
        cost_result("30", "wrkspc_A", SONNET, "uncached_input_tokens"),  # $0.30
        cost_result("20", "wrkspc_A", SONNET, "output_tokens"),
    ]
    admin.costs[d2] = [cost_result("100", "wrkspc_A", SONNET, "cache_read_input_tokens")]
    admin.costs[d3] = [cost_result("25", None, None, None, cost_type="web_search", description="Web search")]
    return sync_anthropic(d1, d3, now=now, company=company)


def test_anthropic_estimated_vs_billed_per_day_and_model(db, admin):
    assert seed(admin)["billed_rows"] == 1
    r = reconcile(D1, D3, company="Acme", provider="anthropic", tolerance_pct=5, now=NOW)
    assert r["provider"] == "anthropic"
    assert r["rows"] == [
        {
            "date": "2025-03-01",
            "model": "claude-sonnet-4",
            "estimated": "0.500000",
            "billed": "0.500000",
            "difference": "0.000000",
            "difference_pct": 0.0,
            "over_tolerance": False,
            "unpriced_jobs": 0,
        },
        {
            "date": "2025-03-02",
            "model": "claude-sonnet-4",
            "estimated": "1.000000",
            "billed": "1.000000",
            "difference": "0.000000",
            "difference_pct": 0.0,
            "over_tolerance": False,
            "unpriced_jobs": 0,
        },
        {
            "date": "2025-03-03",
            "model": "Web search",
            "estimated": "0.000000",
            "billed": "0.250000",
            "difference": "-0.250000",
            "difference_pct": -100.0,
            "over_tolerance": True,
            "unpriced_jobs": 0,
        },
    ]
    assert r["days_over_tolerance"] == ["2025-03-03"] and [d["synced"] for d in r["days"]] == [True] * 3
    assert reconcile(D1, D3, company="Acme", provider="openai", now=NOW)["totals"]["billed"] == "0.000000", (
        "one provider's bill never counts for another"
    )
    sync_anthropic(D1, D3, now=NOW, company="Acme")
    assert reconcile(D1, D3, company="Acme", provider="anthropic", tolerance_pct=5, now=NOW) == r


@pytest.fixture
def clear_cache():
    st.cache_data.clear()
    yield
    st.cache_data.clear()


def _section(company, provider):
    from ui.reconciliation import render_reconciliation

    render_reconciliation(company, provider=provider)


def test_the_section_reconciles_the_bill_chosen(sqlite_db, admin, clear_cache):
    today = datetime.now(UTC).date()
    seed(admin, now=datetime.now(UTC), d1=today - timedelta(days=2), d2=today - timedelta(days=1), d3=today)
    at = AppTest.from_function(_section, args=("Acme", None), default_timeout=30).run()
    assert not at.exception
    assert [h.value for h in at.subheader] == ["Reconciliation with the OpenAI bill"]
    assert {m.label: m.value for m in at.metric}["Billed"] == usd("0")
    at.radio(key="reconcile_provider").set_value("anthropic").run()
    assert [h.value for h in at.subheader] == ["Reconciliation with the Anthropic bill"]
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Estimated"], metrics["Billed"], metrics["Days over tolerance"]) == (
        usd("1.500000"),
        usd("1.750000"),
        "1",
    )
    assert "python -m core sync anthropic" in at.caption[0].value
    # The page's provider filter picks the bill; a provider without a bill says so.
    at = AppTest.from_function(_section, args=("Acme", "anthropic"), default_timeout=30).run()
    assert not at.radio and [h.value for h in at.subheader] == ["Reconciliation with the Anthropic bill"]
    at = AppTest.from_function(_section, args=("Acme", "ollama"), default_timeout=30).run()
    assert not at.metric and "bills are read for OpenAI and Anthropic only" in at.caption[0].value
