"""The budget status board on the pages: the Costs headline names the worst budget in scope (never a sum across
companies), the board lists each budget and quota, and the Overview puts the budgets at risk first."""

from datetime import UTC, datetime, timedelta

import pytest

from core.limits.budgets import set_budget, set_quota
from core.usage import record_usage
from tests.helpers.apptest import app_test, dashboard

pytestmark = pytest.mark.usefixtures("navigation_mode")


def spend(company: str, cost: str, provider: str = "openai", model: str = "gpt-4o", n: int = [0]):
    n[0] += 1
    when = datetime.now(UTC) - timedelta(minutes=5)
    record_usage(
        job_id=f"b-{n[0]}",
        created_at=when,
        company=company,
        provider_name=provider,
        model_name=model,
        input_tokens=100,
        output_tokens=50,
        cost_input=cost,
        cost_output="0",
        status="completed",
        execution_time_seconds="1",
    )


@pytest.fixture
def two_companies(db):
    set_budget("Humari", "100")
    set_budget("Globex", "2000")
    set_quota("Humari", "openai", monthly_usd="300")
    spend("Humari", "84.6")
    spend("Globex", "10")
    return db


def linked(page: str, **params):
    """The dashboard opened from a shared link (query parameters set before the first run), then the page."""
    at = dashboard(**params)
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    return at


def texts(at) -> str:
    parts = [e.value for kind in ("error", "warning", "info") for e in getattr(at, kind)]
    return "\n".join(str(p).replace("\\", "") for p in parts)


def test_costs_headline_names_the_worst_budget_not_a_sum(two_companies):
    at = app_test("costs")
    assert not at.exception
    labels = {m.label for m in at.metric}
    assert "Budget" not in labels  # no single budget across two companies: nothing is added up
    assert "$2,100.00" not in "".join(m.value for m in at.metric)
    assert "Humari · all providers — 84.6% used" in texts(at)
    board = at.table[0].value.map(lambda v: str(v).replace("\\", ""))
    # Worst first: Humari's budget (84.6 %), its OpenAI quota (28.2 %), Globex's budget (0.5 %).
    assert list(zip(board["Company"], board["Kind"], board["Used"])) == [
        ("Humari", "budget", "84.6%"),
        ("Humari", "quota", "28.2%"),
        ("Globex", "budget", "0.5%"),
    ]
    assert "Warning" in at.table[0].value.index[0]


def test_costs_for_one_company_shows_its_own_budget(two_companies):
    at = linked("costs", company="Globex")
    assert not at.exception
    budget = next(m for m in at.metric if m.label == "Budget")
    assert budget.value == "$2,000.00" and "0.5% used" in budget.delta


def test_provider_filter_shows_that_providers_quota_and_the_company_budget(two_companies):
    at = linked("costs", provider="openai")
    board = at.table[0].value.map(lambda v: str(v).replace("\\", ""))
    assert set(zip(board["Company"], board["Provider"], board["Kind"])) == {
        ("Humari", "all providers", "budget"),
        ("Humari", "openai", "quota"),
        ("Globex", "all providers", "budget"),
    }


def test_overview_lists_budgets_at_risk_first(two_companies):
    at = app_test()
    assert not at.exception
    assert "1 budget at risk this month" in texts(at)
    links = [e for e in at.get("page_link")]
    assert any("Humari · all providers" in str(link.proto.label) for link in links)


def test_overview_is_quiet_when_every_budget_holds(db):
    set_budget("Calm", "1000")
    spend("Calm", "1")
    at = app_test()
    assert "at risk" not in texts(at)
