"""Grouped figures over a time range: whole days from a daily rollup, the whole hours of a day the range cuts
from the hourly rollup, and the raw ledger only for what is left, at most half an hour at either end. Returns a
compact pandas frame (one row per group).

Whole days come from the smallest daily rollup whose key holds every dim and filter: usage_daily_model (no brand,
no operation: ~10x fewer rows a day), usage_daily_scope (company, brand and operation only: ~20x fewer), or
usage_daily (every key); hours from usage_hourly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from operator import add

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, Date, cast, func, literal, null, select, type_coerce, union_all
from sqlalchemy.orm import Session

from core.clock import midnight
from core.storage.db import is_sqlite
from core.storage.models import AIJobUsage, UsageDaily, UsageDailyModel, UsageDailyScope, UsageHourly
from core.storage.rollups import INT_MEASURES, KEYS, MEASURED, MEASURES, NARROW_KEYS, SCOPE_KEYS, day_expr, raw_sum

DIMS = KEYS  # day, company_id, brand_id, provider_name, model_name, operation, job_status, pricing_status


def filter_conds(table, filters: Mapping) -> list:
    """SQL conditions on `table` for filters keyed by dimension (a list: any of its values; None: no filter)."""
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


def _sum(column, name: str):
    # PostgreSQL sums BIGINT into NUMERIC (a Decimal per value in Python): cast counts back to BIGINT.
    return (cast(func.sum(column), BigInteger) if name in INT_MEASURES else func.sum(column)).label(name)


def rollup_table(dims: Iterable[str], filters: Mapping):
    """The smallest daily rollup whose key holds every dim and (non-None) filter."""
    used = set(dims) | {d for d, v in filters.items() if v is not None}
    if used <= set(NARROW_KEYS):
        return UsageDailyModel
    return UsageDailyScope if used <= set(SCOPE_KEYS) else UsageDaily


def _rollup_query(
    dims: list[str],
    filters: Mapping,
    d0: date | None,
    d1: date | None,
    part: int = -1,
    columns: list[str] | None = None,
    measures: Iterable[str] = MEASURES,
    hours: tuple[date, int, int] | None = None,
):
    """Sums per group of `dims` from a daily rollup for days [d0, d1), or from usage_hourly for `hours` (day,
    first hour, end hour); `columns` (a superset of dims, for a UNION with finer raw parts) adds NULLs."""
    t = UsageHourly if hours else rollup_table(dims, filters)
    # NULL columns take the wide table's types: the narrow one lacks brand_id and operation.
    cols = [
        getattr(t, d).label(d) if d in dims else cast(null(), getattr(UsageDaily, d).type).label(d)
        for d in (columns or dims)
    ]
    sums = [_sum(getattr(t, m), m) for m in measures]
    q = select(literal(part).label("part"), *cols, *sums).where(*filter_conds(t, filters))
    if hours:
        q = q.where(t.day == hours[0], t.hour >= hours[1], t.hour < hours[2])
    if d0 is not None:
        q = q.where(t.day >= d0)
    if d1 is not None:
        q = q.where(t.day < d1)
    return q.group_by(*[getattr(t, d) for d in dims]) if dims else q


def _raw_query(
    session: Session,
    dims: list[str],
    filters: Mapping,
    start: datetime,
    end: datetime,
    part: int = 0,
    measures: Iterable[str] = MEASURES,
):
    u = AIJobUsage
    day = type_coerce(day_expr(session), Date)
    cols = [day.label("day") if d == "day" else getattr(u, d).label(d) for d in dims]
    sums = [(cast(raw_sum(m), BigInteger) if m in INT_MEASURES else raw_sum(m)).label(m) for m in measures]
    q = select(literal(part).label("part"), *cols, *sums).where(
        u.created_at >= start,
        u.created_at < end,
        *filter_conds(u, filters),
        *_companies_of(session, filters, start, end),
    )
    return q.group_by(*cols) if cols else q


def _companies_of(session: Session, filters: Mapping, start: datetime, end: datetime) -> list:
    """PostgreSQL, no company or provider filter: "company_id = ANY(the companies with records on those days)".

    Time alone is served by a BRIN index there, which is only as tight as the heap is in time order: batches
    imported side by side interleave their pages, and half a day then read 500k rows to keep 15k (74 ms). Listing
    the companies lets the (company_id, created_at) B-tree read exactly the range, once per company (15 ms). The
    list comes from the narrow rollup, kept in the ledger's transaction: in one snapshot it holds every company
    that has a record on those days, so no record is missed.
    """
    if is_sqlite(session) or any(filters.get(k) is not None for k in ("company_id", "provider_name")):
        return []
    last = (end - timedelta(microseconds=1)).date()
    ids = (
        select(UsageDailyModel.company_id)
        .where(UsageDailyModel.day >= start.date(), UsageDailyModel.day <= last)
        .distinct()
    )
    return [AIJobUsage.company_id == func.any(func.array(ids.scalar_subquery()))]


# A record may be stamped up to this far past the clock (core.ingest.checks.MAX_FUTURE): later than that, a range
# holds no record, so the plan counts that part as free.
_FUTURE = timedelta(minutes=5)


def _cost(lo: datetime, hi: datetime, horizon: datetime) -> timedelta:
    """Guess of the raw rows in [lo, hi): its length up to the horizon (nothing is recorded after it)."""
    return max(min(hi, horizon) - lo, timedelta(0))


RAW, HOURLY = "raw", "hourly"
_HOUR = timedelta(hours=1)


def _floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _split(sign: int, lo: datetime, hi: datetime, horizon: datetime) -> list[tuple[int, datetime, datetime, str]]:
    """[lo, hi), inside one day, as whole hours from usage_hourly and raw records for the partial hours at its
    ends: each partial hour read directly, or as its whole hour minus the raw rest, whichever covers less time."""
    out: list[tuple[int, datetime, datetime, str]] = []
    h_lo = _floor_hour(lo)
    h0 = h_lo if h_lo == lo else h_lo + _HOUR  # first whole hour
    h1 = _floor_hour(hi)  # end of the last whole hour
    if h0 > h1:  # inside one hour
        if _cost(lo, hi, horizon) <= _cost(h_lo, lo, horizon) + _cost(hi, h_lo + _HOUR, horizon):
            return [(sign, lo, hi, RAW)]
        return [(sign, h_lo, h_lo + _HOUR, HOURLY)] + [
            (-sign, a, b, RAW) for a, b in ((h_lo, lo), (hi, h_lo + _HOUR)) if a < b
        ]
    if lo < h0:
        if _cost(lo, h0, horizon) <= _cost(h_lo, lo, horizon):
            out.append((sign, lo, h0, RAW))
        else:
            out += [(sign, h_lo, h0, HOURLY), (-sign, h_lo, lo, RAW)]
    if h0 < h1:
        out.append((sign, h0, h1, HOURLY))
    if h1 < hi:
        if _cost(h1, hi, horizon) <= _cost(hi, h1 + _HOUR, horizon):
            out.append((sign, h1, hi, RAW))
        else:
            out += [(sign, h1, h1 + _HOUR, HOURLY), (-sign, hi, h1 + _HOUR, RAW)]
    # Adjacent hours of the same sign: one range.
    merged: list[tuple[int, datetime, datetime, str]] = []
    for piece in sorted(out, key=lambda p: (p[3], p[0], p[1])):
        last = merged[-1] if merged else None
        if last and piece[3] == HOURLY == last[3] and piece[0] == last[0] and piece[1] == last[2]:
            merged[-1] = (last[0], last[1], piece[2], HOURLY)
        else:
            merged.append(piece)
    whole = [(sign, lo, hi, RAW)]  # e.g. "from now to midnight": nothing recorded yet, one empty raw read
    return whole if _split_cost(whole, horizon) <= _split_cost(merged, horizon) else merged


def _split_cost(pieces: list[tuple[int, datetime, datetime, str]], horizon: datetime) -> tuple[timedelta, timedelta]:
    """(raw time, hourly time) a list of pieces reads: raw records cost most, hourly rows next."""
    raw = sum((_cost(lo, hi, horizon) for _, lo, hi, kind in pieces if kind == RAW), timedelta(0))
    hourly = sum((_cost(lo, hi, horizon) for _, lo, hi, kind in pieces if kind == HOURLY), timedelta(0))
    return raw, hourly


def _cut_day(
    day: date, lo: datetime, hi: datetime, horizon: datetime
) -> tuple[bool, list[tuple[int, datetime, datetime, str]]]:
    """The part [lo, hi) of `day` that a range covers, as pieces to add to rollup days without that day (False),
    or to subtract from rollup days with it (True): whichever reads fewer raw minutes, then fewer hours."""
    inside = _split(1, lo, hi, horizon)
    outside = [
        p
        for a, b in ((midnight(day), lo), (hi, midnight(day + timedelta(days=1))))
        if a < b
        for p in _split(-1, a, b, horizon)
    ]
    if _split_cost(inside, horizon) <= _split_cost(outside, horizon):
        return False, inside
    return True, outside


def plan(
    start: datetime | None, end: datetime | None, horizon: datetime | None = None
) -> tuple[date | None, date | None, list[tuple[int, datetime, datetime, str]]]:
    """How to answer [start, end): daily rollup days [r0, r1) (None: unbounded), then pieces to add (+1) or
    subtract (-1), each (sign, lo, hi, kind) with kind HOURLY (usage_hourly, whole hours) or RAW (the ledger).

    A cut day is read as its part inside the range, or as its whole day minus the part outside, whichever reads
    fewer raw minutes (then fewer hours): "today up to now" is the whole day minus the (empty) rest of it, and a
    window opening at 12:00 reads the twelve hourly rows of its first day's afternoon, no raw record.
    """
    horizon = horizon or datetime.now(UTC) + _FUTURE
    r0 = r1 = None
    pieces: list[tuple[int, datetime, datetime, str]] = []
    ds = None if start is None else start.date()
    de = None if end is None else end.date()
    start_cut = start is not None and start != midnight(ds)
    end_cut = end is not None and end != midnight(de)
    if start_cut and end_cut and ds == de:  # both ends inside one day
        whole, part = _cut_day(ds, start, end, horizon)
        return ds, ds + timedelta(days=1) if whole else ds, part
    if start is not None:
        r0 = ds
        if start_cut:
            whole, part = _cut_day(ds, start, midnight(ds + timedelta(days=1)), horizon)
            r0 = ds if whole else ds + timedelta(days=1)
            pieces += part
    if end is not None:
        r1 = de
        if end_cut:
            whole, part = _cut_day(de, midnight(de), end, horizon)
            r1 = de + timedelta(days=1) if whole else de
            pieces += part
    return r0, r1, pieces


def aggregate(
    session: Session,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    dims: Iterable[str] = (),
    filters: Mapping | None = None,
    memo: dict | None = None,
    raw_dims: Iterable[str] | None = None,
    measures: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Figures per group of `dims` for records with start <= created_at < end (None: unbounded).

    Whole days come from a daily rollup; a cut day from hourly rows and raw records (see `plan`). Calls over the
    same range ends can share their raw reads: pass the same `memo` dict, and `raw_dims` (a superset of the later
    calls' dims) to the first; a raw range read once serves every later call grouping by fewer dims. A memo
    belongs to one snapshot (see `snapshot_memo`). `measures` (default: all of MEASURES; "jobs" always) limits
    the sums read to those a view shows; a measure a record may lack (execution_ms, memory_mb) comes with its
    count of measured jobs (timed_jobs, memory_jobs), which its average divides by.
    """
    dims = list(dims)
    bad = [d for d in dims if d not in DIMS]
    if bad:
        raise ValueError(f"unknown dimension {bad[0]!r}")
    filters = dict(filters or {})
    if start is not None:
        start = start.astimezone(UTC)
    if end is not None:
        end = end.astimezone(UTC)
    wanted = set(measures or MEASURES) | {"jobs"}
    wanted |= {MEASURED[m] for m in wanted if m in MEASURED}  # an average's divisor comes with its sum
    measures = [m for m in MEASURES if m in wanted]
    if start is not None and end is not None and start >= end:
        return _frame([], dims, measures=measures)
    r0, r1, pieces = plan(start, end)
    # dims first: a row's group is its first len(dims) values whatever finer grouping the raw parts have.
    group_dims = dims + [d for d in dict.fromkeys(raw_dims or ()) if d not in dims]
    filters_key = (repr(sorted(filters.items())), tuple(measures))
    parts: dict[int, list[tuple]] = {}
    queries = []
    if r0 is None or r1 is None or r0 < r1:
        queries.append(_rollup_query(dims, filters, r0, r1, part=-1, columns=group_dims, measures=measures))
    for i, (_, lo, hi, kind) in enumerate(pieces):
        if kind == HOURLY:  # a few rows per hour: read each time, in the same statement
            parts[i] = []
            hours = (lo.date(), lo.hour, lo.hour + (hi - lo) // _HOUR)
            queries.append(
                _rollup_query(dims, filters, None, None, part=i, columns=group_dims, measures=measures, hours=hours)
            )
            continue
        cached = None if memo is None else memo.get((lo, hi, filters_key))
        if cached is None or not set(group_dims) <= set(cached[0]):
            parts[i] = []
            queries.append(_raw_query(session, group_dims, filters, lo, hi, part=i, measures=measures))
        elif cached[0] == group_dims:
            parts[i] = cached[1]
        else:  # read by a call grouping finer or in another order: its rows laid out as ours (then summed)
            width = len(cached[0])
            at = [cached[0].index(d) for d in group_dims] + list(range(width, width + len(measures)))
            parts[i] = [tuple(r[j] for j in at) for r in cached[1]]
    rollup_rows: list[tuple] = []
    if queries:
        # One statement: the rollup and the raw ranges are read from one snapshot, so a record that arrives
        # meanwhile is never added by one part and subtracted by another.
        stmt = queries[0] if len(queries) == 1 else union_all(*queries)
        jobs = len(group_dims) + 1
        for r in session.execute(stmt).all():
            if r[jobs]:
                (rollup_rows if r[0] < 0 else parts[r[0]]).append(tuple(r)[1:])
    if memo is not None:
        for i, (_, lo, hi, kind) in enumerate(pieces):
            if kind == RAW:
                memo.setdefault((lo, hi, filters_key), (group_dims, parts[i]))
    sources = [(1, rollup_rows)] + [(sign, parts[i]) for i, (sign, _, _, _) in enumerate(pieces)]
    return _frame(sources, dims, len(group_dims), measures)


def snapshot_memo(session: Session) -> dict | None:
    """A memo for `aggregate` when every statement of the session reads one snapshot (PostgreSQL REPEATABLE READ
    or SERIALIZABLE, see core.storage.db.read_scope); None otherwise, as figures read at different moments would mix."""
    if is_sqlite(session):
        return None
    level = session.connection().get_isolation_level()
    return {} if level in ("REPEATABLE READ", "SERIALIZABLE") else None


def _frame(
    sources: list[tuple[int, list[tuple]]],
    dims: list[str],
    width: int | None = None,
    measures: Iterable[str] = MEASURES,
) -> pd.DataFrame:
    """One row per group from rows (group values, then measures) to add (+1) or subtract (-1); the group is the
    first len(dims) values of a row, so finer rows are summed into it. Money stays exact (Decimal sums); with a
    subtracted part, a group left with no job is dropped."""
    cols = dims + list(measures)
    nd, width = len(dims), len(dims) if width is None else width
    # The first source is the daily rollup, grouped by dims in SQL: one row per group, no sum needed (the bulk
    # of the rows; the cut days' parts that follow are a few hundred).
    acc: dict[tuple, list] = {r[:nd]: list(r[width:]) for r in (sources[0][1] if sources else [])}
    for sign, rows in sources[1:]:
        for r in rows:
            key, values = r[:nd], r[width:]
            if sign < 0:
                values = [-v for v in values]
            cur = acc.get(key)
            acc[key] = list(values) if cur is None else list(map(add, cur, values))
    if any(sign < 0 for sign, _ in sources):
        acc = {k: v for k, v in acc.items() if v[0]}
    if not acc:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    columns = list(zip(*acc.keys())) + list(zip(*acc.values())) if dims else [()] * nd + list(zip(*acc.values()))
    types = {m: "int64" for m in INT_MEASURES} | {"success_sum": "float64"}
    return pd.DataFrame({c: np.array(v, dtype=types.get(c, object)) for c, v in zip(cols, columns)})
