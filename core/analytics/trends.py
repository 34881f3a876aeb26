"""The usage trends (`/ai/usage/trends/`): a metric (cost, tokens, jobs) per calendar period (ISO week, month,
quarter; UTC), with the change against the previous period and a summary. `usage_trends` computes it as typed
figures (Decimal money); `get_usage_trends` is its JSON-able dict.

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
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from core.analytics.common import EPSILON, UNPRICED_SET, Unpriced, growth, micro, money, scope_filters, utc_now
from core.errors import InvalidRecord
from core.queries.grouping import VOLUME, Ask, Sums, day_of, grouped
from core.storage.db import read_scope

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
    trend = "increasing" if slope_pct > TREND_THRESHOLD else "decreasing" if slope_pct < -TREND_THRESHOLD else "stable"
    spread = round(statistics.pstdev(changes), 1) if len(changes) >= 2 else 0.0
    volatility = "low" if spread < VOLATILITY_LOW else "moderate" if spread < VOLATILITY_HIGH else "high"
    return {
        "trend": trend,
        "avg_growth": avg_growth,
        "volatility": volatility,
        "slope_percentage": slope_pct,
        "change_std_dev": spread,
        "periods_used": len(values),
    }


@dataclass(frozen=True, slots=True)
class Point:
    """One period's figures; `value` is the chosen metric (Decimal for cost, int otherwise)."""

    label: str  # Week 47, Nov 2025, Q4 2025
    key: str  # 2025-W47, 2025-11, 2025-Q4
    start: date
    end: date
    value: Decimal | int
    jobs: int
    tokens: int
    cost: Decimal
    change_percentage: float | None
    complete: bool

    @property
    def in_progress(self) -> bool:
        return not self.complete


@dataclass(frozen=True, slots=True)
class Trends:
    metric: str
    period: str
    points: tuple[Point, ...]
    summary: dict  # summarize()'s figures
    unpriced: Unpriced

    def to_dict(self) -> dict:
        cost = self.metric == "cost"
        return {
            "metric": self.metric,
            "period": self.period,
            "data_points": [
                {
                    "period_label": p.label,
                    "key": p.key,
                    "start_date": p.start.isoformat(),
                    "end_date": p.end.isoformat(),
                    "value": money(p.value) if cost else p.value,
                    "jobs": p.jobs,
                    "tokens": p.tokens,
                    "cost": money(p.cost),
                    "change_percentage": p.change_percentage,
                    "complete": p.complete,
                    "in_progress": p.in_progress,
                }
                for p in self.points
            ],
            "summary": self.summary,
            "unpriced": self.unpriced.to_dict(),
        }


def usage_trends(
    period: str = "week",
    metric: str = "cost",
    now: datetime | None = None,
    company: str | None = None,
    session: Session | None = None,
    *,
    brand=None,
    provider: str | None = None,
    periods: int | None = None,
) -> Trends:
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
        sets = {"day": ("day",), "unpriced": UNPRICED_SET}
        g = grouped(s, {"range": Ask(range_start, now + EPSILON, sets, filters, VOLUME)})["range"]
    buckets = {st: Sums() for st in starts}
    for (day,), sums in g["day"].items():
        buckets[period_start(day_of(day), period)].add(sums)
    points, prev_value, started = [], None, False
    for st in starts:
        b = buckets[st]
        if not started and b.jobs == 0:
            continue  # no data yet: leading empty periods say nothing about a trend
        started = True
        end = _next(st, period) - timedelta(days=1)
        value = {"cost": b.total_cost, "tokens": b.total_tokens, "jobs": b.jobs}[metric]
        label, key = _label(st, period)
        complete = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1) <= now
        change = None if prev_value is None or not complete else growth(value, prev_value)
        points.append(
            Point(
                label,
                key,
                st,
                end,
                micro(value) if metric == "cost" else value,
                b.jobs,
                b.total_tokens,
                b.total_cost,
                change,
                complete,
            )
        )
        prev_value = value
    used = [p for p in points if p.complete]
    values = [float(p.value) for p in used]
    changes = [p.change_percentage for p in used]
    return Trends(metric, period, tuple(points), summarize(values, changes), Unpriced.of(g["unpriced"]))


def get_usage_trends(
    period: str = "week",
    metric: str = "cost",
    now: datetime | None = None,
    company: str | None = None,
    session: Session | None = None,
    *,
    brand=None,
    provider: str | None = None,
    periods: int | None = None,
) -> dict:
    """A metric per period as the usage spec's dict (see `usage_trends`)."""
    return usage_trends(
        period, metric, now, company, session, brand=brand, provider=provider, periods=periods
    ).to_dict()
