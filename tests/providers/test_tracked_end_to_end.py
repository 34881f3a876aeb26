"""End to end: a company's OpenAI budget runs out in the middle of a run of 200 calls; every later call is
served by the fallback, the application never sees a failure, the ledger shows the switch and the Overview
figures (core.analytics.get_usage_dashboard) include both providers."""

import json
from decimal import Decimal

import pytest
import streamlit as st

from core.analytics import get_usage_dashboard
from core.limits.budgets import set_budget
from core.pricing.catalog import price_usage
from core.providers import tracked as llm
from tests.helpers.apptest import app_test
from tests.helpers.llm import attempts, providers

pytestmark = pytest.mark.usefixtures("navigation_mode")

MSG = [{"role": "user", "content": "Évalue la qualité de ce court document."}]
CALLS = 200


def test_budget_runs_out_mid_run_and_fallback_serves_the_rest(db, monkeypatch, tmp_path):
    ops = '[operations.kb-quality-analysis-short]\nprimary = "openai"\nfallback = ["ollama", "gemini"]\n'
    with providers(monkeypatch, tmp_path, operations=ops, prompt_tokens=1000, completion_tokens=500) as (oa, ol, ge):
        one_call = None
        served = []
        for i in range(CALLS):
            if i == 1:
                # Budget: enough for 66 calls and a part of the 67th (spend is checked before each call).
                one_call = attempts(db)[0]["cost"]
                set_budget("Qadhya", one_call * 66 + one_call / 2, provider="openai")
            t = llm.complete_traced("kb-quality-analysis-short", MSG, company="Qadhya", brand="kb")
            assert t.response.choices[0].message.content == "OK"  # the application always gets an answer
            served.append(t.provider)
    assert (
        one_call
        == price_usage(
            provider="openai",
            model="gpt-4o-mini",
            at=attempts(db)[0]["created_at"],
            input_tokens=1000,
            output_tokens=500,
        ).total_cost
        > 0
    )
    switch = served.index("ollama")
    assert switch == 67 and served == ["openai"] * 67 + ["ollama"] * (CALLS - 67)
    assert (oa.calls, ol.calls, ge.calls) == (67, CALLS - 67, 0), "after the switch OpenAI is never called"

    rows = attempts(db)
    completed = [r for r in rows if r["status"] == "completed"]
    skips = [r for r in rows if r["error_class"] == "BudgetExhausted"]
    assert len(completed) == CALLS and len(rows) == CALLS + len(skips) == CALLS + (CALLS - 67)
    assert all(r["provider"] == "openai" and r["input"] == 0 and r["cost"] == 0 for r in skips)
    # The ledger shows the switch: the first skip comes right after the 67th OpenAI call, and from then on
    # every request is a skip followed by the Ollama answer, both under the same request_id.
    first_skip = rows.index(skips[0])
    assert [r["provider"] for r in rows[:first_skip]] == ["openai"] * 67
    after = rows[first_skip:]
    pairs = list(zip(after[0::2], after[1::2]))
    assert len(pairs) == CALLS - 67
    assert all(
        s["error_class"] == "BudgetExhausted"
        and o["provider"] == "ollama"
        and o["status"] == "completed"
        and s["request_id"] == o["request_id"]
        for s, o in pairs
    )
    openai_spend = sum((r["cost"] for r in completed if r["provider"] == "openai"), Decimal(0))
    assert openai_spend == one_call * 67

    dash = get_usage_dashboard(days=1, company="Qadhya")
    by_provider = {p["provider"]: p for p in dash["by_provider"]}
    assert set(by_provider) == {"openai", "ollama"}
    assert Decimal(by_provider["openai"]["cost"]) == openai_spend
    assert by_provider["ollama"]["jobs"] == CALLS - 67 and Decimal(by_provider["ollama"]["cost"]) == 0
    assert by_provider["openai"]["jobs"] == 67 + (CALLS - 67)  # served calls + recorded skips
    assert by_provider["ollama"]["tokens"] == (CALLS - 67) * 1500 and by_provider["openai"]["tokens"] == 67 * 1500
    assert Decimal(dash["totals"]["cost"]) == openai_spend
    assert dash["totals"]["tokens"] == CALLS * 1500

    # The Overview page itself (AppTest) draws both providers and counts every attempt.
    st.cache_data.clear()
    at = app_test()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Jobs"] == f"{len(rows):,}" and metrics["Tokens"] == f"{CALLS * 1500:,}"
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    daily = next(c for c in charts if c["layout"]["title"]["text"] == "Daily cost by provider")
    assert {t["name"] for t in daily["data"]} == {"openai", "ollama"}
    st.cache_data.clear()


def test_provider_quota_refusals_mid_run_never_reach_the_application(db, monkeypatch, tmp_path):
    """Without a budget in the monitor, OpenAI itself starts answering 429 insufficient_quota mid-run."""
    with providers(monkeypatch, tmp_path) as (oa, ol, ge):
        served = []
        for i in range(CALLS):
            if i == 120:
                oa.mode = "429_quota"
            served.append(llm.complete_traced("kb-quality-analysis-short", MSG, company="Qadhya").provider)
    assert served == ["openai"] * 120 + ["ollama"] * 80
    assert (oa.calls, ol.calls) == (200, 80)
    rows = attempts(db)
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 80 and {r["error_class"] for r in failed} == {"RateLimitError"}
    assert all(r["description"].startswith("quota:") for r in failed)
    dash = get_usage_dashboard(days=1, company="Qadhya")
    assert {p["provider"] for p in dash["by_provider"]} == {"openai", "ollama"}
    assert dash["quality_metrics"]["failed_jobs"] == 80
