"""The rollups' deltas of a batch of new records as columns: summed by Arrow per hourly key (`column_sums`), as
the dict deltas `rollups.apply` takes (`frame_deltas`), or added on PostgreSQL by COPY (`apply_frame`).

Sums are exact: money stays integer micro-dollars until the COPY writes it as NUMERIC text; a time or memory not
measured is 0 in its column and left out of `timed_jobs` / `memory_jobs`, the divisors of the averages. Days are
integers (days since 1970-01-01) until written.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.storage import headroom
from core.storage.columns import copy_arrow, money_array
from core.storage.rollups import (
    DAILY,
    HOUR_KEYS,
    MEASURES,
    MONEY_MEASURES,
    driver_cursor,
    tmp_cursor,
    upsert_from_tmp,
)

EPOCH = date(1970, 1, 1)


def column_sums(c: dict) -> pa.Table:
    """The hourly deltas of a batch of records as columns (core/storage/writer.py: BATCH, with company_id,
    brand_id, total_tokens and total_cost): one row per HOUR_KEYS key, then MEASURES (money in micro-dollars, day
    as days since 1970-01-01): the table `apply_frame` takes."""
    n = len(c["position"])
    day = c["created_at"].astype("datetime64[D]")
    hour = (c["created_at"].astype("datetime64[h]") - day).astype(np.int16)
    # The measures named as in the batch are summed as they are; money in micro-dollars (integer sums, exact).
    own = {
        "jobs": np.ones(n, dtype=np.int64),
        "memory_mb": c["memory_usage_mb"],
        # A value not measured is 0 in its column: the counts say how many jobs each sum is over.
        "timed_jobs": c["timed"].astype(np.int64),
        "memory_jobs": c["memory_measured"].astype(np.int64),
        "success_sum": c["success_rate"],
    }
    measures = {m: own[m] if m in own else c[m] for m in MEASURES}
    keys = {
        "day": day.astype(np.int32),
        "hour": hour,
        "company_id": c["company_id"],
        "brand_id": c["brand_id"],
        "provider_name": c["provider"],
        "model_name": c["model"],
        "operation": c["operation"],
        "job_status": c["status"],
        "pricing_status": c["pricing_status"],
    }
    assert tuple(keys) == HOUR_KEYS
    table = pa.table({**keys, **measures})
    return _sums(table, HOUR_KEYS)


def _sums(table: pa.Table, keys: tuple) -> pa.Table:
    """`table` summed per `keys`: those columns, then MEASURES, in that order."""
    got = table.group_by(list(keys), use_threads=False).aggregate([(m, "sum") for m in MEASURES])
    return pa.table({**{k: got[k] for k in keys}, **{m: got[f"{m}_sum"] for m in MEASURES}})


def frame_deltas(sums: pa.Table) -> dict[tuple, dict]:
    """`column_sums` as the dict deltas `apply` takes (money as Decimal)."""
    cols = {k: sums[k].to_pylist() for k in sums.column_names}
    money = set(MONEY_MEASURES)
    out: dict[tuple, dict] = {}
    for i in range(sums.num_rows):
        key = (EPOCH + timedelta(days=cols["day"][i]), *(cols[k][i] for k in HOUR_KEYS[1:]))
        out[key] = {m: Decimal(cols[m][i]).scaleb(-6) if m in money else cols[m][i] for m in MEASURES}
    return out


def apply_frame(session: Session, sums: pa.Table) -> None:
    """PostgreSQL: add a table of hourly deltas of new records (`column_sums`). The (company, day)s that have no
    rollup row yet, as in a backfill, are COPYed into the four rollups as they are (their daily sums grouped here):
    half the server's work of an upsert. The others go through a temporary table, then one upsert per rollup."""
    headroom.rollups_changed(session, {m: int(pc.sum(sums[m]).as_py()) for m in headroom.GUARDED})
    # The guard's lock is held from here to the commit, by every rollup writer: a (company, day) found without rows
    # stays so until these are in.
    fresh = _fresh_days(session, sums)
    if fresh.any():
        part = sums.filter(pa.array(fresh)) if not fresh.all() else sums
        _copy_frame(session, "usage_hourly", part.sort_by([(k, "ascending") for k in HOUR_KEYS]))
        for model, keys in DAILY:
            daily = _sums(part, keys).sort_by([(k, "ascending") for k in keys])
            _copy_frame(session, model.__tablename__, daily)
    if not fresh.all():
        cols = _copy_frame(session, "tmp_usage_hourly", sums.filter(pa.array(~fresh)), tmp_cursor(session))
        upsert_from_tmp(session, cols)


def _fresh_days(session: Session, sums: pa.Table) -> np.ndarray:
    """The rows of `sums` whose (company_id, day) has no usage_daily row (so no row in any rollup: they move
    together), found by one index probe per distinct pair."""
    company = sums["company_id"].to_numpy().astype(np.int64)
    pair = (company << 32) | sums["day"].to_numpy().astype(np.int64)  # day: days since 1970, well under 2**31
    distinct = np.unique(pair)
    found = session.execute(
        text(
            "SELECT p.c, p.d FROM unnest(CAST(:c AS integer[]), CAST(:d AS integer[])) AS p(c, d) "
            "WHERE EXISTS (SELECT 1 FROM usage_daily u WHERE u.company_id = p.c AND u.day = DATE '1970-01-01' + p.d)"
        ),
        {"c": (distinct >> 32).tolist(), "d": (distinct & 0xFFFFFFFF).tolist()},
    ).all()
    if not found:
        return np.ones(sums.num_rows, dtype=bool)
    stored = np.array([(int(c) << 32) | int(d) for c, d in found], dtype=np.int64)
    return ~np.isin(pair, stored)


def _copy_frame(session: Session, table: str, sums: pa.Table, cur=None) -> list[str]:
    """COPY rollup rows (`column_sums`' columns, or a daily rollup's keys and MEASURES) into `table`; returns its
    columns. The CSV is written by Arrow: dates from the day numbers, money as NUMERIC text from the micro-dollars
    (exact)."""
    cols = {}
    for name in sums.column_names:
        col = sums[name].combine_chunks()
        if name == "day":
            col = col.cast(pa.date32())
        elif name in MONEY_MEASURES:
            col = money_array(col.to_numpy())
        cols[name] = col
    data = pa.table(cols)
    copy_arrow(cur or driver_cursor(session), table, data)
    return list(data.column_names)
