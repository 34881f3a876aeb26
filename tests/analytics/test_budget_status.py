"""The budget status board: each budget and quota on its own row, worst first, never a sum across companies."""

from datetime import UTC, datetime, timedelta

import pytest

from core.analytics import get_budget_status
from core.limits.budgets import set_budget, set_quota
from tests.helpers.alerts import spend

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)  # half of a 30-day month: elapsed 14.5 days


def by_key(status: dict) -> dict:
    return {(b["company"], b["provider"], b["kind"]): b for b in status["budgets"]}


def test_each_company_is_judged_on_its_own(db, env):
    set_budget("Humari", "100")
    set_budget("Globex", "10000")
    spend("84.6", when=NOW - timedelta(days=1), company="Humari")
    spend("10", when=NOW - timedelta(days=1), company="Globex")
    status = get_budget_status(now=NOW)
    worst = status["worst"]
    assert worst["company"] == "Humari" and worst["provider"] is None and worst["kind"] == "budget"
    assert worst["percentage"] == 84.6 and worst["status"] == "warning"
    assert worst["limit_usd"] == "100.000000" and worst["spent_usd"] == "84.600000"
    globex = by_key(status)[("Globex", None, "budget")]
    assert globex["percentage"] == 0.1 and globex["status"] == "ok"
    assert [b["company"] for b in status["budgets"]] == ["Humari", "Globex"]


def test_quota_exceeded_comes_first_with_the_day_it_was_crossed(db, env):
    set_budget("Humari", "1000")
    set_quota("Humari", "openai", monthly_usd="50")
    spend("30", when=datetime(2026, 11, 3, 10, tzinfo=UTC), company="Humari")
    spend("21.95", when=datetime(2026, 11, 9, 10, tzinfo=UTC), company="Humari")
    status = get_budget_status(now=NOW)
    worst = status["worst"]
    assert (worst["kind"], worst["provider"], worst["status"]) == ("quota", "openai", "exceeded")
    assert worst["percentage"] == 103.9 and worst["runs_out_on"] == "2026-11-09"
    budget = by_key(status)[("Humari", None, "budget")]
    assert budget["status"] == "ok" and budget["spent_usd"] == "51.950000"


def test_projection_and_run_out_day_at_the_month_pace(db, env):
    set_budget("Acme", "100", provider="openai")
    spend("58", when=NOW - timedelta(days=2))  # 58 over 14.5 days: 4/day -> 120 by the 30th
    item = get_budget_status(now=NOW)["worst"]
    assert item["projected_usd"] == "120.000000"
    # 42 left at 4 a day: 10.5 days after the 15th at noon -> the 26th.
    assert item["runs_out_on"] == "2026-11-26" and item["status"] == "ok" and item["percentage"] == 58.0


def test_a_token_quota_uses_the_larger_share(db, env):
    set_quota("Acme", "openai", monthly_usd="1000", monthly_tokens=10_000)
    spend("10", when=NOW - timedelta(hours=1), tokens=(9_000, 600))  # 1 % of money, 96 % of tokens
    item = get_budget_status(now=NOW)["worst"]
    assert item["limit_tokens"] == 10_000 and item["spent_tokens"] == 9_600
    assert item["percentage"] == 96.0 and item["status"] == "critical"


def test_provider_filter_keeps_its_limits_and_the_company_wide_budget(db, env):
    set_budget("Acme", "100")
    set_budget("Acme", "50", provider="gemini")
    set_quota("Acme", "openai", monthly_usd="40")
    spend("20", when=NOW - timedelta(hours=2), provider="openai")
    spend("5", when=NOW - timedelta(hours=1), provider="gemini", model="gemini-2.0-flash")
    keys = set(by_key(get_budget_status(provider="openai", now=NOW)))
    assert keys == {("Acme", None, "budget"), ("Acme", "openai", "quota")}
    company_wide = by_key(get_budget_status(provider="openai", now=NOW))[("Acme", None, "budget")]
    assert company_wide["spent_usd"] == "25.000000"  # the budget counts every provider


@pytest.mark.parametrize("spent, status", [("79.99", "ok"), ("80", "warning"), ("95", "critical"), ("100", "exceeded")])
def test_status_levels(db, env, spent, status):
    set_quota("Acme", "openai", monthly_usd="100")
    spend(spent, when=NOW - timedelta(hours=1))
    assert get_budget_status(company="Acme", now=NOW)["worst"]["status"] == status


def test_scope_and_empty(db, env):
    assert get_budget_status(now=NOW) == {"budgets": [], "worst": None}
    set_budget("Acme", "10")
    set_budget("Beta", "10")
    assert {b["company"] for b in get_budget_status(company="Beta", now=NOW)["budgets"]} == {"Beta"}
    assert get_budget_status(company="Nobody", now=NOW)["budgets"] == []
