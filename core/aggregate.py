"""Grouped figures over a time range, read from the daily rollup for whole days and from the raw ledger only
for the partial days at either end. Returns a compact pandas frame (one row per group).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
from sqlalchemy import Date, func, select, type_coerce
from sqlalchemy.orm import Session

from core.models import AIJobUsage, UsageDaily
from core.rollup import INT_MEASURES, KEYS, MEASURES, MONEY_MEASURES, day_expr

DIMS = KEYS  # day, company_id, brand_id, provider_name, model_name, operation, job_status, pricing_status


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time.min, UTC)


def _filter_conds(table, filters: Mapping) -> list:
    conds = []
    for dim, value in filters.items():
        if dim not in DIMS or dim == "day":
            raise ValueError(f"cannot filter on {dim!r}")
        if value is None:
            continue
        col = getattr(table, dim)
        if isinstance(value, list | tuple | set | frozenset):
            conds.append(col.in_(list(value)))
        else:
            conds.append(col == value)
    return conds


def _rollup_query(session: Session, dims: list[str], filters: Mapping, d0: date | None, d1: date | None):
    t = UsageDaily
    cols = [getattr(t, d) for d in dims]
    sums = [func.sum(getattr(t, m)).label(m) for m in MEASURES]
    q = select(*cols, *sums).where(*_filter_conds(t, filters))
    if d0 is not None:
        q = q.where(t.day >= d0)
    if d1 is not None:
        q = q.where(t.day < d1)
    return q.group_by(*cols) if cols else q


def _raw_query(session: Session, dims: list[str], filters: Mapping, start: datetime, end: datetime):
    u = AIJobUsage
    day = type_coerce(day_expr(session), Date)
    cols = [day.label("day") if d == "day" else getattr(u, d) for d in dims]
    sums = [func.count().label("jobs")]
    for m in INT_MEASURES[1:]:
        src = u.memory_usage_mb if m == "memory_mb" else getattr(u, m)
        sums.append(func.sum(src).label(m))
    sums += [func.sum(getattr(u, m)).label(m) for m in MONEY_MEASURES]
    sums.append(func.sum(u.success_rate).label("success_sum"))
    q = select(*cols, *sums).where(u.created_at >= start, u.created_at < end, *_filter_conds(u, filters))
    return q.group_by(*cols) if cols else q


def aggregate(session: Session, *, start: datetime | None = None, end: datetime | None = None,
              dims: Iterable[str] = (), filters: Mapping | None = None) -> pd.DataFrame:
    """Figures per group of `dims` for records with start <= created_at < end (None: unbounded)."""
    dims = list(dims)
    bad = [d for d in dims if d not in DIMS]
    if bad:
        raise ValueError(f"unknown dimension {bad[0]!r}")
    filters = dict(filters or {})
    queries = []
    if start is not None and end is not None and start >= end:
        return _frame([], dims)
    d0 = None if start is None else (start.date() if start == _midnight(start.date()) else start.date()
                                     + timedelta(days=1))
    d1 = None if end is None else end.astimezone(UTC).date()
    if start is not None:
        start = start.astimezone(UTC)
    if d0 is not None and d1 is not None and d0 >= d1:
        queries.append(_raw_query(session, dims, filters, start, end))
    else:
        queries.append(_rollup_query(session, dims, filters, d0, d1))
        if start is not None and start < _midnight(d0):
            queries.append(_raw_query(session, dims, filters, start, _midnight(d0)))
        if end is not None and _midnight(d1) < end:
            queries.append(_raw_query(session, dims, filters, _midnight(d1), end))
    rows = []
    for q in queries:
        rows.extend(r._asdict() for r in session.execute(q) if r.jobs)
    return _frame(rows, dims)


def _frame(rows: list[dict], dims: list[str]) -> pd.DataFrame:
    cols = dims + list(MEASURES)
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    df = pd.DataFrame(rows, columns=cols)
    for m in INT_MEASURES:
        df[m] = df[m].fillna(0).astype("int64")
    df["success_sum"] = df["success_sum"].astype("float64")
    if dims and len(df) > len(df.drop_duplicates(dims)):
        agg = {m: "sum" for m in MEASURES}
        df = df.groupby(dims, as_index=False, sort=False, dropna=False).agg(agg)
    elif not dims and len(df) > 1:
        df = pd.DataFrame([{m: (sum(df[m]) if m in MONEY_MEASURES else df[m].sum()) for m in MEASURES}])
    return df.reset_index(drop=True)
