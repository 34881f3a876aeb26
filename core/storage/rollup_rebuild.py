"""The rollups recomputed from the raw ledger for a range of days: the repair of lost or wrong rollup rows, and
the reference the incremental updates (core/storage/rollups.py) are tested against.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from core.clock import midnight
from core.storage import headroom
from core.storage.models import AIJobUsage, UsageDaily, UsageHourly
from core.storage.rollups import DAILY, HOUR_KEYS, MEASURES, day_expr, hour_expr, raw_sum


def rebuild(session: Session, start: date | None = None, end: date | None = None) -> int:
    """Recompute the rollups for the days [start, end) (None: unbounded): usage_hourly from the raw ledger, then
    usage_daily from it, then the other daily rollups from that (sums of sums, exact). Returns the number of
    usage_daily rows."""
    where = []
    if start is not None:
        where.append(AIJobUsage.created_at >= midnight(start))
    if end is not None:
        where.append(AIJobUsage.created_at < midnight(end))
    u = AIJobUsage
    day, hour = day_expr(session), hour_expr(session)
    keys = [
        day.label("day"),
        hour.label("hour"),
        u.company_id,
        u.brand_id,
        u.provider_name,
        u.model_name,
        u.operation,
        u.job_status,
        u.pricing_status,
    ]
    sel = select(*keys, *[raw_sum(m) for m in MEASURES]).where(*where).group_by(*keys)
    headroom.lifetime_totals(session)  # the guard's lock first, as every rollup change takes it
    session.execute(delete(UsageHourly).where(*_days(UsageHourly, start, end)))
    session.execute(insert(UsageHourly).from_select(list(HOUR_KEYS) + list(MEASURES), sel))
    rows = 0
    for model, keys in DAILY:
        source = UsageHourly if model is UsageDaily else UsageDaily
        session.execute(delete(model).where(*_days(model, start, end)))
        cols = [getattr(source, k) for k in keys]
        sel = (
            select(*cols, *[func.sum(getattr(source, m)) for m in MEASURES])
            .where(*_days(source, start, end))
            .group_by(*cols)
        )
        result = session.execute(insert(model).from_select(list(keys) + list(MEASURES), sel))
        rows = rows or (result.rowcount or 0)
    headroom.recount(session)
    return rows


def _days(model, start: date | None, end: date | None) -> list:
    """Conditions on a rollup's day for [start, end) (None: unbounded)."""
    return [
        c
        for c in (None if start is None else model.day >= start, None if end is None else model.day < end)
        if c is not None
    ]
