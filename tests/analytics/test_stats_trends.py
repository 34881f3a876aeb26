"""get_usage_stats and get_usage_trends against the raw records; the trend rules on constructed series."""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from core import analytics
from core.analytics.trends import period_start, summarize
from tests.helpers.ledger import NOW, csum, load, make_records, money, raw_rows


@pytest.fixture
def ledger(db):
    load(make_records())
    return raw_rows(db)


def test_stats_match_raw_records(ledger):
    d = analytics.get_usage_stats(now=NOW)
    life = [r for r in ledger if r.created_at <= NOW]
    assert d["lifetime"]["total_jobs"] == len(life)
    assert d["lifetime"]["total_cost"] == money(csum(life))
    assert d["lifetime"]["total_tokens"] == sum(r.tokens for r in life)
    priced_tokens = sum(r.tokens for r in life if r.pricing_status != "unpriced")
    assert d["lifetime"]["avg_cost_per_token"] == pytest.approx(float(csum(life) / priced_tokens), rel=1e-6)
    cur = [r for r in life if (r.created_at.year, r.created_at.month) == (2025, 11)]
    prev = [r for r in life if (r.created_at.year, r.created_at.month) == (2025, 10)]
    m = d["monthly"]
    assert m["current_month"] == m["current_month"] | {
        "jobs": len(cur),
        "cost": money(csum(cur)),
        "tokens": sum(r.tokens for r in cur),
    }
    assert m["previous_month"] == m["previous_month"] | {
        "jobs": len(prev),
        "cost": money(csum(prev)),
        "tokens": sum(r.tokens for r in prev),
    }
    assert m["growth"]["jobs_percentage"] == pytest.approx((len(cur) - len(prev)) / len(prev) * 100, abs=0.051)
    assert m["growth"]["cost_percentage"] == pytest.approx(
        float((csum(cur) - csum(prev)) / csum(prev) * 100), abs=0.051
    )
    e = d["efficiency"]
    assert e["avg_tokens_per_job"] == round(sum(r.tokens for r in life) / len(life))
    assert Decimal(e["avg_cost_per_job"]) == (csum(life) / len(life)).quantize(Decimal("0.000001"))
    assert e["success_rate"] == pytest.approx(sum(r.success_rate for r in life) / len(life), abs=0.0005)
    by_model = defaultdict(list)
    for r in life:
        by_model[r.model].append(r)
    most_used = max(by_model, key=lambda k: (len(by_model[k]), [-ord(c) for c in k]))
    assert d["top_performers"]["most_used_model"] == most_used
    fastest = min(by_model, key=lambda k: sum(r.execution_ms for r in by_model[k]) / len(by_model[k]))
    assert d["top_performers"]["fastest_model"] == fastest
    # The cheapest rule Efficiency uses too: lowest average cost per priced job, at least 20 priced jobs.
    per_job = {}
    for k, v in by_model.items():
        priced = [r for r in v if r.pricing_status != "unpriced"]
        if len(priced) >= 20:
            per_job[k] = csum(priced) / len(priced)
    assert per_job, "the ledger has models with enough jobs to rank"
    assert d["top_performers"]["most_efficient_model"] == min(per_job, key=per_job.get)
    assert d["unpriced"]["models"][0]["model"] == "custom-1"


def test_stats_in_january_compare_with_december(db):
    load(
        [
            {
                "job_id": "d",
                "created_at": datetime(2024, 12, 31, 23, 59, tzinfo=UTC),
                "provider": "openai",
                "model": "gpt-4o",
                "input_tokens": 1,
                "output_tokens": 1,
                "cost_input": "2",
                "cost_output": "0",
            },
            {
                "job_id": "j",
                "created_at": datetime(2025, 1, 1, tzinfo=UTC),
                "provider": "openai",
                "model": "gpt-4o",
                "input_tokens": 1,
                "output_tokens": 1,
                "cost_input": "3",
                "cost_output": "0",
            },
        ]
    )
    d = analytics.get_usage_stats(now=datetime(2025, 1, 15, tzinfo=UTC))
    assert d["monthly"]["previous_month"]["cost"] == "2.000000"
    assert d["monthly"]["current_month"]["cost"] == "3.000000"
    assert d["monthly"]["growth"]["cost_percentage"] == 50.0


def test_stats_empty_database(db):
    d = analytics.get_usage_stats(now=NOW)
    assert d["lifetime"] == {"total_jobs": 0, "total_cost": "0.000000", "total_tokens": 0, "avg_cost_per_token": 0.0}
    assert d["monthly"]["growth"]["jobs_percentage"] is None
    assert d["top_performers"] == {"most_efficient_model": None, "fastest_model": None, "most_used_model": None}


@pytest.mark.parametrize(
    "day,period,start",
    [
        (date(2025, 11, 19), "week", date(2025, 11, 17)),
        (date(2025, 11, 17), "week", date(2025, 11, 17)),
        (date(2026, 1, 1), "week", date(2025, 12, 29)),
        (date(2025, 11, 30), "month", date(2025, 11, 1)),
        (date(2025, 8, 10), "quarter", date(2025, 7, 1)),
        (date(2025, 12, 31), "quarter", date(2025, 10, 1)),
        (date(2025, 1, 1), "quarter", date(2025, 1, 1)),
    ],
)
def test_period_start(day, period, start):
    assert period_start(day, period) == start


@pytest.mark.parametrize(
    "period,metric", [("week", "cost"), ("week", "jobs"), ("month", "tokens"), ("quarter", "cost")]
)
def test_trend_points_match_raw_records(ledger, period, metric):
    d = analytics.get_usage_trends(period=period, metric=metric, now=NOW)
    assert (d["period"], d["metric"]) == (period, metric)
    points = d["data_points"]
    assert points
    first = date.fromisoformat(points[0]["start_date"])
    groups = defaultdict(list)
    for r in ledger:
        if r.created_at <= NOW and r.created_at.date() >= first:
            groups[period_start(r.created_at.date(), period)].append(r)
    prev = None
    for p in points:
        rows = groups.get(date.fromisoformat(p["start_date"]), [])
        expected = {"cost": money(csum(rows)), "tokens": sum(r.tokens for r in rows), "jobs": len(rows)}[metric]
        assert p["value"] == expected
        assert p["jobs"] == len(rows)
        v = Decimal(p["value"]) if metric == "cost" else p["value"]
        if p["in_progress"]:
            assert p["change_percentage"] is None and p is points[-1]
        elif prev:
            assert p["change_percentage"] == pytest.approx(float((v - prev) / prev * 100), abs=0.051)
        prev = v
    assert sum(p["jobs"] for p in points) == sum(len(v) for v in groups.values())
    # The first point is the first period with data (leading empty periods are dropped).
    assert points[0]["jobs"] > 0
    if period == "week":
        assert points[-1]["period_label"] == "Week 47" and points[-1]["start_date"] == "2025-11-17"
        assert points[-1]["end_date"] == "2025-11-23" and points[-1]["complete"] is False


def test_trend_summary_on_a_steady_rise(db):
    # 8 complete weeks, cost rising 10 % a week: increasing, avg growth 10.0, low volatility.
    recs, cost = [], Decimal("10")
    monday = date(2025, 9, 22)
    for w in range(8):
        day = monday + timedelta(days=7 * w + 2)
        recs.append(
            {
                "job_id": f"w{w}",
                "created_at": datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
                "provider": "openai",
                "model": "gpt-4o",
                "input_tokens": 10,
                "output_tokens": 10,
                "cost_input": str(cost),
                "cost_output": "0",
            }
        )
        cost = (cost * Decimal("1.1")).quantize(Decimal("0.000001"))
    load(recs)
    d = analytics.get_usage_trends(period="week", metric="cost", now=datetime(2025, 11, 17, 0, 0, tzinfo=UTC))
    points = d["data_points"]
    assert [p["change_percentage"] for p in points[1:8]] == [10.0] * 7
    # The week in progress (no call yet) has no change and does not count in the summary.
    assert points[8]["in_progress"] is True and points[8]["change_percentage"] is None and len(points) == 9
    assert d["summary"] == d["summary"] | {
        "trend": "increasing",
        "avg_growth": 10.0,
        "volatility": "low",
        "periods_used": 8,
    }
    assert d["data_points"][0]["period_label"] == "Week 39"


def _week_records(costs: dict[date, str]) -> list[dict]:
    return [
        {
            "job_id": f"p{day}",
            "created_at": datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
            "provider": "openai",
            "model": "gpt-4o",
            "input_tokens": 10,
            "output_tokens": 10,
            "cost_input": cost,
            "cost_output": "0",
        }
        for day, cost in costs.items()
    ]


def test_the_week_in_progress_has_no_change_and_stays_out_of_the_summary(db):
    # Three full weeks at $100, then one day into the current week ($1.40 so far): not a 98.6 % fall.
    load(
        _week_records(
            {date(2025, 10, 29): "100", date(2025, 11, 5): "100", date(2025, 11, 12): "100", date(2025, 11, 17): "1.40"}
        )
    )
    d = analytics.get_usage_trends(period="week", metric="cost", now=datetime(2025, 11, 17, 18, tzinfo=UTC))
    points = d["data_points"]
    assert [p["change_percentage"] for p in points] == [None, 0.0, 0.0, None]
    assert [p["complete"] for p in points] == [True, True, True, False]
    assert [p["in_progress"] for p in points] == [False, False, False, True]
    assert points[-1]["value"] == "1.400000"  # the figure so far is still there
    assert d["summary"] == d["summary"] | {
        "trend": "stable",
        "avg_growth": 0.0,
        "volatility": "low",
        "slope_percentage": 0.0,
        "periods_used": 3,
    }


def test_one_complete_week_and_one_in_progress_make_no_trend(db):
    load(_week_records({date(2025, 11, 12): "100", date(2025, 11, 17): "1.40"}))
    d = analytics.get_usage_trends(period="week", metric="cost", now=datetime(2025, 11, 17, 18, tzinfo=UTC))
    assert [p["change_percentage"] for p in d["data_points"]] == [None, None]
    assert d["summary"] == d["summary"] | {"trend": "stable", "avg_growth": 0.0, "periods_used": 1}
    month = analytics.get_usage_trends(period="month", metric="jobs", now=datetime(2025, 11, 17, 18, tzinfo=UTC))
    assert [(p["period_label"], p["in_progress"], p["change_percentage"]) for p in month["data_points"]] == [
        ("Nov 2025", True, None)
    ]
    assert month["summary"]["periods_used"] == 0


def test_trend_rules():
    assert summarize([10, 10, 10, 10], [None, 0.0, 0.0, 0.0])["trend"] == "stable"
    down = summarize([100, 80, 60, 40], [None, -20.0, -25.0, -33.3])
    assert down["trend"] == "decreasing" and down["avg_growth"] == -26.1 and down["volatility"] == "low"
    zigzag = summarize([10, 20, 10, 20, 10], [None, 100.0, -50.0, 100.0, -50.0])
    assert zigzag["volatility"] == "high" and zigzag["trend"] == "stable"
    mid = summarize([10, 12, 11, 13], [None, 20.0, -8.3, 18.2])
    assert mid["volatility"] == "moderate"
    assert summarize([], [])["trend"] == "stable"


def test_trend_filters_empty_and_validation(ledger):
    beta = analytics.get_usage_trends(period="month", metric="jobs", now=NOW, company="Beta")
    assert sum(p["jobs"] for p in beta["data_points"]) == sum(
        r.company == "Beta" for r in ledger if r.created_at <= NOW
    )
    assert analytics.get_usage_trends(now=NOW, company="Nobody")["data_points"] == []
    with pytest.raises(ValueError):
        analytics.get_usage_trends(period="day")
    with pytest.raises(ValueError):
        analytics.get_usage_trends(metric="dollars")
