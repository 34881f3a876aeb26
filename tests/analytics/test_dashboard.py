"""get_usage_dashboard: every figure equals a computation from the raw records (SQLite and PostgreSQL)."""

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest

from core import analytics
from tests.helpers.ledger import NOW, csum, load, make_records, money, pct, raw_rows


@pytest.fixture
def ledger(db):
    load(make_records())
    return raw_rows(db)


def window(rows, days, now=NOW, **match):
    start = now - timedelta(days=days)
    return [r for r in rows if start <= r.created_at <= now and all(getattr(r, k) == v for k, v in match.items())]


def check_totals(d, picked):
    jobs = len(picked)
    assert d["totals"]["jobs"] == jobs
    assert d["totals"]["tokens"] == sum(r.tokens for r in picked)
    assert d["totals"]["cost"] == money(csum(picked))
    assert Decimal(d["totals"]["avg_cost_per_job"]) == (csum(picked) / jobs).quantize(Decimal("0.000001"))
    assert d["totals"]["avg_execution_time"] == pytest.approx(
        sum(r.execution_ms for r in picked) / jobs / 1000, abs=0.005
    )


@pytest.mark.parametrize("days", [7, 30, 90])
def test_totals_breakdowns_and_quality_match_raw_records(ledger, days):
    d = analytics.get_usage_dashboard(days=days, now=NOW)
    picked = window(ledger, days)
    assert picked, "fixture must put records in every window"
    check_totals(d, picked)
    assert d["period"] == d["period"] | {
        "days": days,
        "start_date": (NOW - timedelta(days=days)).date().isoformat(),
        "end_date": NOW.date().isoformat(),
    }
    total = csum(picked)
    by_p = defaultdict(list)
    for r in picked:
        by_p[r.provider].append(r)
    got = {p["provider"]: p for p in d["by_provider"]}
    assert set(got) == set(by_p)
    for prov, rows in by_p.items():
        assert got[prov]["jobs"] == len(rows)
        assert got[prov]["tokens"] == sum(r.tokens for r in rows)
        assert got[prov]["cost"] == money(csum(rows))
        assert got[prov]["percentage"] == pytest.approx(pct(csum(rows), total), abs=0.1)
        assert got[prov]["unpriced_jobs"] == sum(r.pricing_status == "unpriced" for r in rows)
    by_m = defaultdict(list)
    for r in picked:
        by_m[(r.provider, r.model)].append(r)
    got_m = {(m["provider"], m["model"]): m for m in d["by_model"]}
    assert set(got_m) == set(by_m)
    for key, rows in by_m.items():
        assert got_m[key]["jobs"] == len(rows)
        assert got_m[key]["cost"] == money(csum(rows))
        assert got_m[key]["avg_tokens"] == round(sum(r.tokens for r in rows) / len(rows))
    by_op = defaultdict(list)
    for r in picked:
        by_op[r.operation].append(r)
    assert {o["operation"]: (o["calls"], o["tokens"], o["cost"]) for o in d["by_operation"]} == {
        op: (len(rows), sum(r.tokens for r in rows), money(csum(rows))) for op, rows in by_op.items()
    }
    by_day = defaultdict(list)
    for r in picked:
        by_day[r.created_at.date().isoformat()].append(r)
    assert [x["date"] for x in d["daily_breakdown"]] == sorted(by_day, reverse=True)
    for x in d["daily_breakdown"]:
        rows = by_day[x["date"]]
        assert (x["jobs"], x["tokens"], x["cost"]) == (len(rows), sum(r.tokens for r in rows), money(csum(rows)))
    # Stacked chart data adds up to the daily totals.
    assert sum(x["jobs"] for x in d["daily_by_provider"]) == len(picked)
    top = sorted(picked, key=lambda r: (r.cost, r.id), reverse=True)[:10]
    assert [t["job_id"] for t in d["top_costly_jobs"]] == [r.job_id for r in top]
    assert [t["cost"] for t in d["top_costly_jobs"]] == [money(r.cost) for r in top]
    q = d["quality_metrics"]
    assert q["failed_jobs"] == sum(r.status == "failed" for r in picked)
    assert q["timeout_jobs"] == sum(r.status == "timeout" for r in picked)
    assert q["success_rate"] == pytest.approx(sum(r.success_rate for r in picked) / len(picked), abs=0.0005)
    un = [r for r in picked if r.pricing_status == "unpriced"]
    assert d["unpriced"]["jobs"] == len(un) > 0
    assert d["unpriced"]["models"] == [{"provider": "acme", "model": "custom-1", "jobs": len(un)}]


def test_previous_period_comparison(ledger):
    d = analytics.get_usage_dashboard(days=30, now=NOW)
    prev = [r for r in ledger if NOW - timedelta(days=60) <= r.created_at < NOW - timedelta(days=30)]
    cur = window(ledger, 30)
    assert d["comparison"]["previous_period"]["jobs"] == len(prev)
    assert d["comparison"]["previous_period"]["cost"] == money(csum(prev))
    assert d["comparison"]["change"]["jobs_percentage"] == pytest.approx(
        (len(cur) - len(prev)) / len(prev) * 100, abs=0.051
    )
    assert d["comparison"]["change"]["cost_percentage"] == pytest.approx(
        float((csum(cur) - csum(prev)) / csum(prev) * 100), abs=0.051
    )


def test_window_boundaries_are_inclusive_at_both_ends(ledger):
    d = analytics.get_usage_dashboard(days=7, now=NOW)
    ids = {t["job_id"] for t in analytics.get_usage_dashboard(days=7, now=NOW)["top_costly_jobs"]}
    picked = window(ledger, 7)
    names = {r.job_id for r in picked}
    assert "edge-start" in names and "edge-now" in names and "edge-before" not in names
    assert d["totals"]["jobs"] == len(picked)
    assert "edge-before" not in ids
    # One microsecond earlier, the record at NOW is out and the one just before the window is in.
    d2 = analytics.get_usage_dashboard(days=7, now=NOW - timedelta(microseconds=1))
    assert d2["totals"]["jobs"] == len(window(ledger, 7, now=NOW - timedelta(microseconds=1)))
    assert d2["totals"]["jobs"] == d["totals"]["jobs"]  # edge-now leaves, edge-before enters


@pytest.mark.parametrize("kind", ["provider", "brand_id", "brand_name", "company"])
def test_filters(ledger, kind):
    if kind == "provider":
        d = analytics.get_usage_dashboard(days=90, provider="anthropic", now=NOW)
        picked = window(ledger, 90, provider="anthropic")
        assert [p["provider"] for p in d["by_provider"]] == ["anthropic"]
    elif kind == "brand_id":
        bid = next(r.brand_id for r in ledger if r.brand == "Mobile")
        d = analytics.get_usage_dashboard(days=90, brand=str(bid), now=NOW)
        picked = window(ledger, 90, brand_id=bid)
        assert analytics.get_usage_dashboard(days=90, brand=bid, now=NOW)["totals"] == d["totals"]
    elif kind == "brand_name":
        d = analytics.get_usage_dashboard(days=90, brand="Main", now=NOW)
        picked = window(ledger, 90, brand="Main")
    else:
        d = analytics.get_usage_dashboard(days=90, company="Beta", now=NOW)
        picked = window(ledger, 90, company="Beta")
    assert 0 < len(picked) < len(window(ledger, 90))
    check_totals(d, picked)
    assert all(t["job_id"] in {r.job_id for r in picked} for t in d["top_costly_jobs"])


def test_unknown_company_or_brand_gives_empty_view_not_everything(ledger):
    assert analytics.get_usage_dashboard(days=90, company="Nobody", now=NOW)["totals"]["jobs"] == 0
    assert analytics.get_usage_dashboard(days=90, brand="Nobody", now=NOW)["totals"]["jobs"] == 0


def test_custom_range_takes_whole_days(ledger):
    start, end = (NOW - timedelta(days=20)).date(), (NOW - timedelta(days=10)).date()
    d = analytics.get_usage_dashboard(start=start, end=end, now=NOW)
    picked = [r for r in ledger if start <= r.created_at.date() <= end]
    assert d["period"]["days"] == 11
    check_totals(d, picked)


def test_empty_database(db):
    d = analytics.get_usage_dashboard(now=NOW)
    assert d["totals"] == {
        "jobs": 0,
        "tokens": 0,
        "cost": "0.000000",
        "avg_cost_per_job": "0.000000",
        "avg_execution_time": None,
    }  # no timed job: not measured, not 0 s
    assert d["by_provider"] == d["by_model"] == d["daily_breakdown"] == d["top_costly_jobs"] == []
    assert d["comparison"]["change"]["jobs_percentage"] is None
    assert d["unpriced"]["jobs"] == 0


def test_list_and_get_usage_are_reexported(ledger):
    page = analytics.list_usage(page=1, page_size=5, provider_name="anthropic")
    assert page["count"] == sum(r.provider == "anthropic" for r in ledger)
    assert len(page["results"]) == 5 and page["next"] == "?page=2&provider_name=anthropic"
    one = analytics.get_usage(page["results"][0]["id"])
    assert one["ai_job"]["job_id"] == page["results"][0]["ai_job"]["job_id"]
    row = next(r for r in ledger if r.id == one["id"])
    assert one["total_cost"] == money(row.cost)
    assert one["cost_per_token"] == pytest.approx(float(row.cost / row.tokens))
