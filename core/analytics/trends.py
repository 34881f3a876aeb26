"""The usage trends (`/ai/usage/trends/`): a metric (cost, tokens, jobs) per calendar period (ISO week, month,
quarter; UTC), with the change against the previous period and a summary.

The period in progress (the one `now` falls in) is flagged `in_progress` (and `complete: false`) and has no
change: a partial period against a full one says nothing about a trend. The summary is over complete periods only:
- avg_growth: mean of the period-over-period change percentages (1 decimal).
- trend: least-squares slope of the values, as a percentage of their mean per period; above +5 % "increasing",
  below -5 % "decreasing", otherwise "stable".
- volatility: population standard deviation of the change percentages; under 10 points "low", under 25
  "moderate", otherwise "high".
"""
from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from core.queries.aggregate import aggregate
from core.analytics.common import EPSILON, ZERO, group, growth, money, scope_filters, unpriced_summary, utc_now
from core.storage.db import read_scope
from core.errors import InvalidRecord

PERIODS = {"week": 12, "month": 12, "quarter": 8}  # number of periods shown, the current one included
METRICS = ("cost", "tokens", "jobs")
TREND_THRESHOLD = 5.0
VOLATILITY_LOW, VOLATILITY_HIGH = 10.0, 25.0
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def period_start(d: date, period: str) -> date:
    """The first day of the week (Monday), month or quarter holding `d`."""
    if period == "week":
        return d - timedelta(days=d.weekday())
    if period == "month":
        return d.replace(day=1)
    return date(d.year, (d.month - 1) // 3 * 3 + 1, 1)


def _next(d: date, period: str) -> date:
    if period == "week":
        return d + timedelta(days=7)
    step = 1 if period == "month" else 3
    m = d.month - 1 + step
    return date(d.year + m // 12, m % 12 + 1, 1)


def _prev(d: date, period: str) -> date:
    if period == "week":
        return d - timedelta(days=7)
    step = 1 if period == "month" else 3
    m = d.month - 1 - step
    return date(d.year + m // 12, m % 12 + 1, 1)


def _label(d: date, period: str) -> tuple[str, str]:
    if period == "week":
        iso = d.isocalendar()
        return f"Week {iso.week}", f"{iso.year}-W{iso.week:02d}"
    if period == "month":
        return f"{_MONTHS[d.month - 1]} {d.year}", f"{d.year}-{d.month:02d}"
    q = (d.month - 1) // 3 + 1
    return f"Q{q} {d.year}", f"{d.year}-Q{q}"


def summarize(values: list[float], changes: list[float | None]) -> dict:
    changes = [c for c in changes if c is not None]
    avg_growth = round(sum(changes) / len(changes), 1) if changes else 0.0
    slope_pct = 0.0
    if len(values) >= 2:
        mean = sum(values) / len(values)
        xs = range(len(values))
        xm = (len(values) - 1) / 2
        denom = sum((x - xm) ** 2 for x in xs)
        slope = sum((x - xm) * (v - mean) for x, v in zip(xs, values)) / denom
        slope_pct = round(slope / mean * 100, 1) if mean else 0.0
    trend = ("increasing" if slope_pct > TREND_THRESHOLD else "decreasing" if slope_pct < -TREND_THRESHOLD
             else "stable")
    spread = round(statistics.pstdev(changes), 1) if len(changes) >= 2 else 0.0
    volatility = "low" if spread < VOLATILITY_LOW else "moderate" if spread < VOLATILITY_HIGH else "high"
    return {"trend": trend, "avg_growth": avg_growth, "volatility": volatility, "slope_percentage": slope_pct,
            "change_std_dev": spread, "periods_used": len(values)}


def get_usage_trends(period: str = "week", metric: str = "cost", now: datetime | None = None,
                     company: str | None = None, session: Session | None = None, *, brand=None,
                     provider: str | None = None, periods: int | None = None) -> dict:
    if period not in PERIODS:
        raise InvalidRecord("period", period, f"must be one of {', '.join(PERIODS)}")
    if metric not in METRICS:
        raise InvalidRecord("metric", metric, f"must be one of {', '.join(METRICS)}")
    now = utc_now(now)
    count = int(periods or PERIODS[period])
    starts = [period_start(now.date(), period)]
    while len(starts) < count:
        starts.insert(0, _prev(starts[0], period))
    range_start = datetime(starts[0].year, starts[0].month, starts[0].day, tzinfo=UTC)
    with read_scope(session) as s:
        filters = scope_filters(s, company=company, brand=brand, provider=provider)
        df = aggregate(s, start=range_start, end=now + EPSILON, dims=["day", "provider_name", "model_name",
                                                                         "pricing_status"], filters=filters)
    per_day = group(df, ["day"]) if not df.empty else None
    buckets = {st: {"cost": ZERO, "tokens": 0, "jobs": 0} for st in starts}
    if per_day is not None:
        for r in per_day.itertuples():
            b = buckets[period_start(r.day, period)]
            b["cost"] += r.total_cost
            b["tokens"] += int(r.total_tokens)
            b["jobs"] += int(r.jobs)
    points, prev_value, started = [], None, False
    for st in starts:
        b = buckets[st]
        if not started and b["jobs"] == 0:
            continue  # no data yet: leading empty periods say nothing about a trend
        started = True
        end = _next(st, period) - timedelta(days=1)
        value = b[metric]
        label, key = _label(st, period)
        complete = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1) <= now
        change = None if prev_value is None or not complete else growth(value, prev_value)
        points.append({"period_label": label, "key": key, "start_date": st.isoformat(), "end_date": end.isoformat(),
                       "value": money(value) if metric == "cost" else int(value), "jobs": b["jobs"],
                       "tokens": b["tokens"], "cost": money(b["cost"]), "change_percentage": change,
                       "complete": complete, "in_progress": not complete})
        prev_value = value
    used = [p for p in points if p["complete"]]
    values = [float(Decimal(p["value"])) if metric == "cost" else float(p["value"]) for p in used]
    changes = [p["change_percentage"] for p in used]
    return {"metric": metric, "period": period, "data_points": points, "summary": summarize(values, changes),
            "unpriced": unpriced_summary(df)}
