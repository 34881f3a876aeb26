"""get_cost_breakdown: month figures, budget, projection and run-out day from the raw records."""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from core import analytics
from core.limits.budgets import set_budget
from tests.helpers.ledger import NOW, csum, load, make_records, money, pct, raw_rows


@pytest.fixture
def ledger(db):
    load(make_records())
    return raw_rows(db)


def month_rows(rows, y, m, **match):
    return [
        r
        for r in rows
        if (r.created_at.year, r.created_at.month) == (y, m) and all(getattr(r, k) == v for k, v in match.items())
    ]


@pytest.mark.parametrize("month", [None, "2025-10"])
def test_month_figures_match_raw_records(ledger, month):
    d = analytics.get_cost_breakdown(month=month, now=NOW)
    y, m = (2025, 11) if month is None else (2025, 10)
    picked = month_rows(ledger, y, m)
    total = csum(picked)
    assert d["period"]["month"] == f"{y}-{m:02d}"
    assert d["period"]["start_date"] == f"{y}-{m:02d}-01"
    assert d["period"]["end_date"] == ("2025-11-30" if m == 11 else "2025-10-31")
    assert d["total_cost"] == money(total)
    groups = defaultdict(list)
    for r in picked:
        groups[r.provider].append(r)
    assert {p["provider"]: (p["total_cost"], p["jobs"]) for p in d["by_provider"]} == {
        k: (money(csum(v)), len(v)) for k, v in groups.items()
    }
    for p in d["by_provider"]:
        assert p["percentage"] == pytest.approx(pct(csum(groups[p["provider"]]), total), abs=0.1)
        assert Decimal(p["avg_cost_per_job"]) == (csum(groups[p["provider"]]) / p["jobs"]).quantize(Decimal("0.000001"))
    brands = defaultdict(list)
    for r in picked:
        brands[(r.brand_id, r.brand)].append(r)
    assert {(b["brand_id"], b["brand_name"]): (b["cost"], b["jobs"], b["percentage"]) for b in d["by_brand"]} == {
        k: (money(csum(v)), len(v), pct(csum(v), total)) for k, v in brands.items()
    }
    models = defaultdict(list)
    for r in picked:
        models[(r.provider, r.model)].append(r)
    assert {(x["provider"], x["model"]): (x["cost"], x["jobs"]) for x in d["by_model"]} == {
        k: (money(csum(v)), len(v)) for k, v in models.items()
    }
    # Weeks add up to the month; each week's average daily cost uses its days inside the month.
    assert sum(Decimal(w["cost"]) for w in d["cost_trends"]) == total
    assert sum(w["jobs"] for w in d["cost_trends"]) == len(picked)
    for w in d["cost_trends"]:
        w0, w1 = date.fromisoformat(w["start_date"]), date.fromisoformat(w["end_date"])
        rows = [r for r in picked if w0 <= r.created_at.date() <= w1]
        assert w["cost"] == money(csum(rows))
        ndays = (min(w1, NOW.date()) - w0).days + 1
        assert Decimal(w["avg_daily"]) == (csum(rows) / ndays).quantize(Decimal("0.000001"))
    assert d["unpriced"]["jobs"] == sum(r.pricing_status == "unpriced" for r in picked)


def test_budget_projection_and_run_out_day(ledger):
    picked = month_rows(ledger, 2025, 11)
    spent = csum(picked)
    assert analytics.get_cost_breakdown(now=NOW)["budget_limit"] is None
    set_budget("Acme Corp", "5.00")
    set_budget("Beta", "3.00")
    set_budget("Beta", "1000.00", provider="openai")  # provider budgets are not the company budget
    # Across companies there is no headline budget: their budgets are never added up.
    d = analytics.get_cost_breakdown(now=NOW)
    assert d["budget_limit"] is None and d["budget_forecast"]["status"] == "no_budget"
    assert {(b["company"], b["provider"]) for b in d["budgets"]} == {
        ("Acme Corp", None),
        ("Beta", None),
        ("Beta", "openai"),
    }
    # The same maths on one company whose budget is 8.
    set_budget("Acme Corp", "8.00")
    picked = month_rows(ledger, 2025, 11, company="Acme Corp")
    spent = csum(picked)
    d = analytics.get_cost_breakdown(now=NOW, company="Acme Corp")
    assert d["budget_limit"] == "8.000000"
    assert d["budget_used_percentage"] == pct(spent, Decimal(8))
    elapsed = Decimal((NOW - datetime(2025, 11, 1, tzinfo=UTC)).total_seconds()) / 86400
    projected = spent / elapsed * 30
    assert Decimal(d["projected_monthly_cost"]) == pytest.approx(projected, abs=Decimal("0.000001"))
    f = d["budget_forecast"]
    if spent >= 8:
        running, crossed = Decimal(0), None
        for r in sorted(picked, key=lambda r: r.created_at):
            running += r.cost
            if running >= 8 and crossed is None:
                crossed = r.created_at.date().isoformat()
        assert f == f | {"status": "exceeded", "runs_out_on": crossed}
    else:
        pace = spent / elapsed
        when = NOW + timedelta(days=float((8 - spent) / pace))
        expected = when.date().isoformat() if when < datetime(2025, 12, 1, tzinfo=UTC) else None
        assert f["runs_out_on"] == expected
    # Scoped to one company: only its budget; with a provider filter, that provider's own budget.
    d = analytics.get_cost_breakdown(now=NOW, company="Beta")
    assert d["budget_limit"] == "3.000000"
    assert d["total_cost"] == money(csum(month_rows(ledger, 2025, 11, company="Beta")))
    assert analytics.get_cost_breakdown(now=NOW, company="Beta", provider="openai")["budget_limit"] == "1000.000000"
    assert analytics.get_cost_breakdown(now=NOW, company="Beta", provider="gemini")["budget_limit"] is None


def test_run_out_day_at_current_pace(db):
    # 10 USD over the first 10 days of November: pace 1 USD/day; a 15 USD budget runs out on day 15.
    recs = [
        {
            "job_id": f"j{i}",
            "created_at": datetime(2025, 11, 1 + i, 12, tzinfo=UTC),
            "company": "Solo",
            "provider": "openai",
            "model": "gpt-4o",
            "input_tokens": 10,
            "output_tokens": 10,
            "cost_input": "1.000000",
            "cost_output": "0",
        }
        for i in range(10)
    ]
    load(recs)
    set_budget("Solo", "15")
    now = datetime(2025, 11, 11, tzinfo=UTC)
    d = analytics.get_cost_breakdown(now=now)
    assert d["total_cost"] == "10.000000"
    assert d["projected_monthly_cost"] == "30.000000"
    assert d["budget_used_percentage"] == 66.7
    assert d["budget_forecast"] == d["budget_forecast"] | {
        "status": "runs_out",
        "runs_out_on": "2025-11-16",
        "daily_pace": "1.000000",
        "remaining": "5.000000",
    }
    set_budget("Solo", "4")
    assert analytics.get_cost_breakdown(now=now)["budget_forecast"]["runs_out_on"] == "2025-11-04"
    # A finished month projects its actual total.
    assert (
        analytics.get_cost_breakdown(month="2025-11", now=datetime(2026, 1, 5, tzinfo=UTC))["projected_monthly_cost"]
        == "10.000000"
    )


def test_brand_filter_and_empty_month(ledger):
    d = analytics.get_cost_breakdown(month="2025-11", brand="Web", now=NOW)
    assert d["total_cost"] == money(csum(month_rows(ledger, 2025, 11, brand="Web")))
    empty = analytics.get_cost_breakdown(month="2024-01", now=NOW)
    assert empty["total_cost"] == "0.000000" and empty["by_provider"] == [] and empty["by_brand"] == []
    with pytest.raises(ValueError):
        analytics.get_cost_breakdown(month="november", now=NOW)


def test_empty_database(db):
    d = analytics.get_cost_breakdown(now=NOW)
    assert d["total_cost"] == "0.000000" and d["budget_limit"] is None and d["budget_used_percentage"] is None
    assert d["projected_monthly_cost"] == "0.000000"
    assert all(w["cost"] == "0.000000" for w in d["cost_trends"])


def test_tiny_pace_against_a_budget_is_within_budget_not_an_overflow(db):
    from datetime import UTC, datetime
    from decimal import Decimal

    from core.analytics import get_cost_breakdown
    from core.limits.budgets import set_budget
    from core.usage import record_usage

    set_budget("Tiny", "10")
    record_usage(
        job_id="tiny-1",
        company="Tiny",
        provider_name="openai",
        model_name="gpt-4o-mini",
        input_tokens=1,
        output_tokens=0,
        cost_input=Decimal("0.000002"),
        cost_output=Decimal("0"),
        created_at=datetime(2025, 11, 2, tzinfo=UTC),
    )
    out = get_cost_breakdown(month="2025-11", company="Tiny", now=datetime(2025, 11, 20, tzinfo=UTC))
    assert out["budget_forecast"]["status"] == "within_budget"
    assert out["total_cost"] == "0.000002"
