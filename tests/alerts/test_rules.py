"""Every alert rule fires at its threshold and not just below it, on SQLite and PostgreSQL."""

from datetime import timedelta
from decimal import Decimal

import pytest

from core.alerts import check_alerts, list_alerts
from core.limits.budgets import set_budget, set_quota
from tests.helpers.alerts import NOW, spend


def fired(now=NOW, **kw) -> dict:
    """{alert_type: alert} of the alerts created by one check."""
    return {a["type"]: a for a in check_alerts(now=now, **kw)["alerts"]}


def baseline(days=7, cost="1", tokens=(600, 400), provider="openai", model="gpt-4o", jobs=1):
    for d in range(1, days + 1):
        for j in range(jobs):
            spend(cost, when=NOW - timedelta(days=d, hours=j), provider=provider, model=model, tokens=tokens)


# -- quotas -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "consumed, expected",
    [
        ("79.99", None),
        ("80", "quota_warning"),
        ("94.99", "quota_warning"),
        ("95", "quota_critical"),
        ("99.99", "quota_critical"),
        ("100", "quota_exceeded"),
        ("130", "quota_exceeded"),
    ],
)
def test_quota_usd_levels(db, env, consumed, expected):
    set_quota("Acme", "openai", monthly_usd="100")
    spend(consumed, when=NOW - timedelta(hours=1))
    types = {t for t in fired() if t.startswith("quota")}
    assert types == ({expected} if expected else set())
    if expected:
        alert = list_alerts(alert_type=expected)["results"][0]
        assert alert["current_value"] == f"{Decimal(consumed):.2f}"
        assert alert["severity"] == ("warning" if expected == "quota_warning" else "critical")
        assert alert["company"]["name"] == "Acme" and alert["provider_name"] == "openai"


@pytest.mark.parametrize(
    "tokens, expected", [(799, None), (800, "quota_warning"), (950, "quota_critical"), (1000, "quota_exceeded")]
)
def test_quota_tokens_levels(db, env, tokens, expected):
    set_quota("Acme", "openai", monthly_tokens=1000)
    spend("0", when=NOW - timedelta(hours=1), tokens=(tokens, 0))
    types = {t for t in fired() if t.startswith("quota")}
    assert types == ({expected} if expected else set())


def test_quota_thresholds_come_from_the_environment(db, env):
    env(ALERT_QUOTA_WARNING="0.5")
    set_quota("Acme", "openai", monthly_usd="100")
    spend("50", when=NOW - timedelta(hours=1))
    assert "quota_warning" in fired()


def test_quota_escalation_supersedes_the_warning(db, env):
    set_quota("Acme", "openai", monthly_usd="100")
    spend("85", when=NOW - timedelta(hours=2))
    assert "quota_warning" in fired()
    spend("10", when=NOW - timedelta(hours=1))
    assert "quota_critical" in fired()
    warning = list_alerts(alert_type="quota_warning")["results"][0]
    assert warning["is_resolved"] and "superseded by quota_critical" in warning["resolution_note"]
    assert list_alerts(is_resolved=False)["count"] == 1


# -- budgets ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "consumed, expected",
    [
        ("79.99", set()),
        ("80", {"cost_warning"}),
        ("94.99", {"cost_warning"}),
        ("95", {"cost_warning", "budget_remaining_low"}),
        ("99.99", {"cost_warning", "budget_remaining_low"}),
        ("100", {"cost_exceeded"}),
    ],
)
def test_budget_cost_rules(db, env, consumed, expected):
    set_budget("Acme", "100", provider="openai")
    spend(consumed, when=NOW - timedelta(hours=1))
    assert set(fired()) == expected


def test_budget_for_all_providers_sums_them(db, env):
    set_budget("Acme", "10")  # every provider
    spend("5", when=NOW - timedelta(hours=2), provider="openai")
    spend("3", when=NOW - timedelta(hours=1), provider="gemini", model="gemini-2.0-flash")
    alerts = fired()
    assert alerts["cost_warning"]["provider"] == ""
    assert "$8.00 of $10.00" in alerts["cost_warning"]["message"]


def test_remaining_under_five_dollars_fires_at_five(db, env):
    """The budget probe's rule: $10 budget, alert when $5 or less remains (not at $5.01)."""
    set_budget("Acme", "10", provider="openai")
    spend("4.99", when=NOW - timedelta(hours=2))
    assert fired() == {}
    spend("0.01", when=NOW - timedelta(hours=1))
    alert = fired()["budget_remaining_low"]
    assert alert["threshold_value"] == "5.00" and alert["current_value"] == "5.00"


def test_remaining_rule_needs_spend_and_leaves_exhaustion_to_cost_exceeded(db, env):
    set_budget("Acme", "5", provider="openai")  # a $5 budget, nothing spent: no alert on the 1st
    assert fired() == {}
    spend("6", when=NOW - timedelta(hours=1))
    assert set(fired()) == {"cost_exceeded"}


def test_last_month_spend_does_not_count(db, env):
    set_budget("Acme", "100", provider="openai")
    spend("500", when=NOW.replace(day=1, hour=0) - timedelta(minutes=1))
    assert fired() == {}


# -- usage patterns -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("today, fires", [("2.99", False), ("3", True)])
def test_daily_spike_at_three_times_the_average(db, env, today, fires):
    baseline(cost="1")
    spend(today, when=NOW - timedelta(hours=3), tokens=(600, 400))
    assert ("daily_spike" in fired()) is fires


def test_daily_spike_needs_a_baseline(db, env):
    baseline(days=2, cost="1")
    spend("10", when=NOW - timedelta(hours=3))
    assert "daily_spike" not in fired()


@pytest.mark.parametrize("today_tokens, fires", [(2999, False), (3000, True)])
def test_unusual_usage_against_the_median(db, env, today_tokens, fires):
    baseline(cost="1", tokens=(600, 400))  # 1,000 tokens a day
    spend("1", when=NOW - timedelta(hours=3), tokens=(today_tokens, 0))
    assert ("unusual_usage" in fired()) is fires


def test_unusual_usage_median_ignores_one_outlier_day(db, env):
    baseline(days=6, cost="1", tokens=(600, 400))
    spend("1", when=NOW - timedelta(days=7), tokens=(60000, 40000))  # one huge day: the mean jumps, not the median
    spend("1", when=NOW - timedelta(hours=3), tokens=(3000, 0))
    alert = fired()["unusual_usage"]
    assert "+200%" in alert["message"]


# -- quality ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("jobs, failed, fires", [(21, 1, False), (20, 1, True), (20, 0, False), (10, 3, True)])
def test_failure_rate_over_seven_days(db, env, jobs, failed, fires):
    for i in range(jobs):
        status = "failed" if i < failed else "completed"
        spend("0.01", when=NOW - timedelta(days=6, hours=i % 20), status=status)
    alerts = fired()
    assert ("high_failure_rate" in alerts) is fires
    if fires and jobs == 20:
        assert alerts["high_failure_rate"]["threshold_value"] == "0.05"
        assert alerts["high_failure_rate"]["current_value"] == "0.05"


def test_one_failed_job_of_one_is_no_failure_rate(db, env):
    """ALERT_MIN_JOBS (default 20): one imported failed record does not read as a 100 % failure rate."""
    env(ALERT_MIN_JOBS=None)
    spend("0.01", when=NOW - timedelta(hours=2), provider="anthropic", model="claude-sonnet-4-5", status="failed")
    assert "high_failure_rate" not in fired()


@pytest.mark.parametrize("jobs, fires", [(19, False), (20, True)])
def test_rate_rules_judge_from_the_default_sample_size(db, env, jobs, fires):
    """Failure rate and slow execution need ALERT_MIN_JOBS (20) jobs in their window."""
    env(ALERT_MIN_JOBS=None)
    for i in range(jobs):
        spend("0.01", when=NOW - timedelta(hours=i + 1), status="failed" if i < 5 else "completed", secs="45")
    alerts = fired()
    assert ("high_failure_rate" in alerts) is fires
    assert ("slow_execution" in alerts) is fires


@pytest.mark.parametrize("jobs_today, fires", [(19, False), (20, True)])
def test_spike_and_deviation_rules_need_the_sample_today(db, env, jobs_today, fires):
    """Daily spike, unusual usage and cost deviation judge a day only with ALERT_MIN_JOBS jobs in it."""
    env(ALERT_MIN_JOBS=None)
    baseline(days=3, cost="0.01", jobs=20, tokens=(10, 10))
    for i in range(jobs_today):
        spend("0.05", when=NOW - timedelta(minutes=10 * i + 5), tokens=(50, 50))
    alerts = fired()
    assert {"daily_spike", "unusual_usage", "high_cost_deviation"} & set(alerts) == (
        {"daily_spike", "unusual_usage", "high_cost_deviation"} if fires else set()
    )


def test_failures_older_than_the_window_do_not_count(db, env):
    spend("0", when=NOW - timedelta(days=7, minutes=1), status="failed")
    spend("0", when=NOW - timedelta(hours=1))
    assert "high_failure_rate" not in fired()


def test_timeouts_count_as_failures_and_probe_calls_do_not(db, env):
    spend("0", when=NOW - timedelta(hours=2), status="failed", operation="probe")
    spend("0", when=NOW - timedelta(hours=1))
    assert "high_failure_rate" not in fired()
    spend("0", when=NOW - timedelta(minutes=30), status="timeout")
    assert "high_failure_rate" in fired()


@pytest.mark.parametrize("secs, fires", [(("30", "29.998"), False), (("30", "30"), True), (("10", "50"), True)])
def test_slow_execution_average(db, env, secs, fires):
    for i, s in enumerate(secs):
        spend("0", when=NOW - timedelta(hours=i + 1), secs=s)
    assert ("slow_execution" in fired()) is fires


@pytest.mark.parametrize("timed, untimed, fires", [(20, 20, True), (19, 30, False)])
def test_slow_execution_judges_the_timed_jobs_only(db, env, timed, untimed, fires):
    """Jobs without an execution time neither pull the average down (as 0 s would) nor make up the sample."""
    env(ALERT_MIN_JOBS=None)  # the default, 20
    for i in range(timed):
        spend("0", when=NOW - timedelta(hours=1, minutes=i), secs="40")
    for i in range(untimed):
        spend("0", when=NOW - timedelta(hours=2, minutes=i), secs="")
    alerts = fired()
    assert ("slow_execution" in alerts) is fires
    if fires:
        assert alerts["slow_execution"]["current_value"] == "40.00"
        assert "40.00 s average" in alerts["slow_execution"]["message"]
        assert f"{timed} timed jobs" in alerts["slow_execution"]["message"]


@pytest.mark.parametrize("today_cost, fires", [("0.199999", False), ("0.2", True)])
def test_cost_deviation_per_model(db, env, today_cost, fires):
    baseline(days=3, cost="0.1", jobs=2, model="gpt-4o")
    baseline(days=3, cost="0.5", jobs=2, model="gpt-4.1")  # another model's usual cost is not gpt-4o's
    spend(today_cost, when=NOW - timedelta(hours=1), model="gpt-4o")
    alerts = fired()
    assert ("high_cost_deviation" in alerts) is fires
    if fires:
        assert "gpt-4o" in alerts["high_cost_deviation"]["message"]


def test_rules_scope_to_one_company(db, env):
    set_budget("Acme", "10", provider="openai")
    set_budget("Beta", "10", provider="openai")
    spend("9", when=NOW - timedelta(hours=1), company="Acme")
    spend("9", when=NOW - timedelta(hours=1), company="Beta")
    r = check_alerts(now=NOW, company="Beta")
    assert {a["company"] for a in r["alerts"]} == {"Beta"}
    assert list_alerts(company="Acme")["count"] == 0
    with pytest.raises(LookupError):
        check_alerts(now=NOW, company="Nobody")
