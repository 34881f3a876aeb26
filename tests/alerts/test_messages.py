"""Alert messages and notification bodies show figures as the pages do: money `$1,234.56` (four decimals under a
dollar), counts with thousands separators, percentages with one decimal, plurals right. SQLite and PostgreSQL."""

import re
from datetime import timedelta

from core.alerts import check_alerts
from core.limits.budgets import set_budget, set_quota
from tests.helpers.alerts import NOW, spend


def messages(now=NOW) -> dict:
    """{alert_type: message} of the alerts created by one check."""
    return {a["type"]: a["message"] for a in check_alerts(now=now)["alerts"]}


def test_quota_messages_in_dollars_and_tokens(db, env):
    set_quota("Acme", "openai", monthly_usd="1000")
    set_quota("Acme", "gemini", monthly_tokens=2_000_000)
    spend("1060.26", when=NOW - timedelta(hours=2))
    spend("0", when=NOW - timedelta(hours=1), provider="gemini", model="gemini-2.0-flash", tokens=(1_700_000, 0))
    by_provider = {
        a["provider"]: a["message"] for a in check_alerts(now=NOW)["alerts"] if a["type"].startswith("quota")
    }
    assert by_provider["openai"] == "Exceeded: quota OpenAI at 106.0% ($1,060.26 of $1,000.00 monthly)"
    assert by_provider["gemini"] == "Warning: quota Gemini at 85.0% (1,700,000 of 2,000,000 tokens monthly)"


def test_budget_messages(db, env):
    set_budget("Acme", "1500", provider="openai")
    spend("1234.5", when=NOW - timedelta(hours=1))
    assert messages()["cost_warning"] == "Monthly budget OpenAI at 82.3%: $1,234.50 of $1,500.00"
    set_budget("Beta", "10")
    spend("9.55", when=NOW - timedelta(hours=1), company="Beta")
    msgs = messages()
    assert msgs["budget_remaining_low"] == (
        "Budget all providers remaining $0.4500 (alert at $5.00 or less; $9.55 of $10.00 consumed)"
    )
    assert msgs["cost_warning"] == "Monthly budget all providers at 95.5%: $9.55 of $10.00"


def test_cost_deviation_under_a_dollar_and_rate_rules(db, env):
    for d in range(1, 4):
        spend("0.012345", when=NOW - timedelta(days=d), model="gpt-4o")
    spend("0.035046", when=NOW - timedelta(hours=1), model="gpt-4o", status="failed", secs="42.5")
    msgs = messages()
    assert msgs["high_cost_deviation"] == (
        "Cost deviation OpenAI gpt-4o: $0.0350 per job today, 2.83x its usual $0.0123"
    )
    assert msgs["high_failure_rate"] == ("High OpenAI failure rate: 25.0% over 7 days (1 of 4 jobs; threshold: 5.0%)")


def test_one_job_is_singular(db, env):
    spend("0.01", when=NOW - timedelta(hours=1), status="failed", secs="45")
    msgs = messages()
    assert msgs["high_failure_rate"] == ("High OpenAI failure rate: 100.0% over 7 days (1 of 1 job; threshold: 5.0%)")
    assert msgs["slow_execution"] == (
        "Slow OpenAI execution: 45.00 s average over 7 days (1 timed job; threshold: 30.00 s)"
    )


def test_notification_body_uses_the_same_formats(db, env, webhook):
    env(NOTIFY_URLS=webhook.url())
    set_budget("Acme", "2000", provider="openai")
    spend("1999.99", when=NOW - timedelta(hours=1))
    check_alerts(now=NOW)
    body = webhook.delivered[-1]
    assert body["title"] == "AI Usage Monitor: 2 new alerts"
    assert "AI Usage Monitor — check of 2026-02-12 15:00 UTC" in body["message"]
    assert "Monthly budget OpenAI at 99.9%: $1,999.99 of $2,000.00" in body["message"]
    assert (
        "Budget OpenAI remaining $0.0100 (alert at $5.00 or less; $1,999.99 of $2,000.00 consumed)" in body["message"]
    )
    assert not re.search(r"\d\$|\$\d+\.\d{5,}", body["message"])  # no '1999.99$', no six decimals


def test_one_new_alert_is_singular_in_the_title(db, env, webhook):
    env(NOTIFY_URLS=webhook.url())
    set_quota("Acme", "openai", monthly_usd="100")
    spend("86", when=NOW - timedelta(hours=1))
    check_alerts(now=NOW)
    body = webhook.delivered[-1]
    assert body["title"] == "AI Usage Monitor: 1 new alert"
    assert "Warning: quota OpenAI at 86.0% ($86.00 of $100.00 monthly)" in body["message"]
