"""The costliest usage rows of a time range, without sorting the range.

SQLite walks its total_cost index. PostgreSQL has none (random keys made every insert expensive, migration
0004); it has (UTC day, total_cost) instead, and asks each day of the range for its own top rows — a short
backward index scan per day — then keeps the best of those. That is exact: a row in the overall top k is in
the top k of its own day.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ARRAY, Date, cast, func, literal, literal_column, select, text, true
from sqlalchemy.orm import Session

from core.models import AIJobUsage

MAX_DAYS = 3660


def utc_day_column():
    """The indexed expression of ix_usage_day_cost, spelled exactly as the index has it."""
    return cast(func.timezone(literal_column("'UTC'"), AIJobUsage.created_at), Date)


def costliest_ids(session: Session, start: datetime, end: datetime, conds: list, limit: int,
                  offset: int = 0) -> list[int]:
    """Usage ids in [start, end) matching `conds`, by total_cost then id, both descending; one page."""
    u = AIJobUsage
    order = (u.total_cost.desc(), u.id.desc())
    in_range = (u.created_at >= start, u.created_at < end, *conds)
    days = _days(start, end)
    if session.get_bind().dialect.name == "sqlite" or not days or len(days) > MAX_DAYS:
        q = select(u.id).where(*in_range).order_by(*order).limit(limit).offset(offset)
        return list(session.scalars(q))
    # A generic plan (psycopg prepares a statement run 5 times) cannot see how many days the array holds and
    # can pick a scan of the whole range (seconds at 10M rows); custom plans take the per-day index walk.
    session.execute(text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"))
    day_list = select(func.unnest(literal(days, ARRAY(Date))).label("d")).subquery("days")
    per_day = (select(u.id, u.total_cost).where(utc_day_column() == day_list.c.d, *in_range)
               .order_by(*order).limit(limit + offset).lateral("top"))
    q = (select(per_day.c.id).select_from(day_list.join(per_day, true()))
         .order_by(per_day.c.total_cost.desc(), per_day.c.id.desc()).limit(limit).offset(offset))
    return list(session.scalars(q))


def _days(start: datetime, end: datetime) -> list[date]:
    if end <= start:
        return []
    first, last = start.astimezone(UTC).date(), (end - timedelta(microseconds=1)).astimezone(UTC).date()
    n = (last - first).days + 1
    return [first + timedelta(days=i) for i in range(min(n, MAX_DAYS + 1))]
