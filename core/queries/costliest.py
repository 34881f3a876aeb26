"""The costliest usage rows of a time range, without sorting the range.

SQLite walks its total_cost index from the top, down to the cost of the WALK_ROWS-th costliest row at most: a
range holding more than a sliver of the ledger has its top rows there (a 30-day window of a 120-day ledger finds
its ten within the first fifty entries). A range too narrow (or a filter too selective) to have them there is
small, and sorts itself. The planner picks the created_at index on its own and sorts the whole window:
110 ms at 1M records for 30 days, against under a millisecond for the walk. PostgreSQL has none (random keys made
every insert expensive, migration
0004); it has (UTC day, total_cost) instead, and asks each day of the range for its own top rows — a short
backward index scan per day — then keeps the best of those. That is exact: a row in the overall top k is in
the top k of its own day.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ARRAY, Date, cast, func, literal, literal_column, select, text, true
from sqlalchemy.orm import Session

from core.storage.db import is_sqlite
from core.storage.models import AIJobUsage

MAX_DAYS = 3660
# SQLite: index entries walked at most before a narrow range sorts itself. The walk needs about
# 10 x ledger / window entries and costs ~20x a sorted row, so it pays off for windows over sqrt(200 x ledger)
# rows, i.e. within sqrt(ledger / 2) entries (707 at 1M records). None: derived from the ledger's size.
WALK_ROWS: int | None = None


def utc_day_column():
    """The indexed expression of ix_usage_day_cost, spelled exactly as the index has it."""
    return cast(func.timezone(literal_column("'UTC'"), AIJobUsage.created_at), Date)


def costliest_ids(
    session: Session, start: datetime, end: datetime, conds: list, limit: int, offset: int = 0
) -> list[int]:
    """Usage ids in [start, end) matching `conds`, by total_cost then id, both descending; one page."""
    u = AIJobUsage
    order = (u.total_cost.desc(), u.id.desc())
    in_range = (u.created_at >= start, u.created_at < end, *conds)
    days = _days(start, end)
    if is_sqlite(session):
        return _sqlite_costliest(session, in_range, limit, offset)
    if not days or len(days) > MAX_DAYS:
        q = select(u.id).where(*in_range).order_by(*order).limit(limit).offset(offset)
        return list(session.scalars(q))
    # A generic plan (psycopg prepares a statement run 5 times) cannot see how many days the array holds and
    # can pick a scan of the whole range (seconds at 10M rows); custom plans take the per-day index walk.
    session.execute(text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"))
    day_list = select(func.unnest(literal(days, ARRAY(Date))).label("d")).subquery("days")
    per_day = (
        select(u.id, u.total_cost)
        .where(utc_day_column() == day_list.c.d, *in_range)
        .order_by(*order)
        .limit(limit + offset)
        .lateral("top")
    )
    q = (
        select(per_day.c.id)
        .select_from(day_list.join(per_day, true()))
        .order_by(per_day.c.total_cost.desc(), per_day.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(q))


def _sqlite_costliest(session: Session, in_range: tuple, limit: int, offset: int) -> list[int]:
    u = AIJobUsage
    order = (u.total_cost.desc(), u.id.desc())
    hint = ("INDEXED BY ix_usage_total_cost", "sqlite")
    walk = WALK_ROWS or max(100, math.isqrt((session.scalar(select(func.max(u.id))) or 0) // 2))
    floor = session.scalar(select(u.total_cost).with_hint(u, *hint).order_by(*order).limit(1).offset(walk))
    bounded = (*in_range, u.total_cost >= floor) if floor is not None else in_range
    ids = list(session.scalars(select(u.id).with_hint(u, *hint).where(*bounded).order_by(*order).limit(limit + offset)))
    # Exact either way: every row above the floor was looked at, so a full page there is the top of the range;
    # without one, the range is narrow and its own sort is cheap.
    if len(ids) == limit + offset or floor is None:
        return ids[offset:]
    q = select(u.id).where(*in_range).order_by(*order).limit(limit).offset(offset)
    return list(session.scalars(q))


def _days(start: datetime, end: datetime) -> list[date]:
    if end <= start:
        return []
    first, last = start.astimezone(UTC).date(), (end - timedelta(microseconds=1)).astimezone(UTC).date()
    n = (last - first).days + 1
    return [first + timedelta(days=i) for i in range(min(n, MAX_DAYS + 1))]
