"""The rollups' deltas of a batch of new records as columns: summed by pandas per hourly key (`column_sums`), as
the dict deltas `rollups.apply` takes (`frame_deltas`), or added on PostgreSQL by COPY (`apply_frame`).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.storage import headroom
from core.storage.rollups import (
    DAILY,
    HOUR_KEYS,
    MEASURES,
    MONEY_MEASURES,
    driver_cursor,
    tmp_cursor,
    upsert_from_tmp,
)


def column_sums(c: dict):
    """The hourly deltas of a batch of records as columns (core/storage/writer.py: BATCH, with company_id,
    brand_id, total_tokens and total_cost), one row per HOUR_KEYS key, money summed in micro-dollars (exact): the
    frame `apply_frame` takes."""
    import numpy as np
    import pandas as pd

    def np_(arr) -> np.ndarray:
        return arr.to_numpy(zero_copy_only=False) if hasattr(arr, "to_numpy") else np.asarray(arr)

    day = c["created_at"].astype("datetime64[D]")
    hour = (c["created_at"].astype("datetime64[h]") - day).astype(np.int64)
    df = pd.DataFrame(
        {
            "day": day,
            "hour": hour,
            "company_id": c["company_id"],
            "brand_id": c["brand_id"],
            "provider_name": np_(c["provider"]),
            "model_name": np_(c["model"]),
            "operation": np_(c["operation"]),
            "job_status": np_(c["status"]),
            "pricing_status": np_(c["pricing_status"]),
            "jobs": 1,
            "input_tokens": c["input_tokens"],
            "output_tokens": c["output_tokens"],
            "total_tokens": c["total_tokens"],
            "cached_tokens": c["cached_tokens"],
            "cache_write_tokens": c["cache_write_tokens"],
            "reasoning_tokens": c["reasoning_tokens"],
            "execution_ms": c["execution_ms"],
            "error_count": c["error_count"],
            "memory_mb": c["memory_usage_mb"],
            "cost_input": c["cost_input"],
            "cost_output": c["cost_output"],
            "total_cost": c["total_cost"],
            "success_sum": c["success_rate"],
            # A value not measured is 0 in its column: the counts say how many jobs each sum is over.
            "timed_jobs": c["timed"].astype(np.int64),
            "memory_jobs": c["memory_measured"].astype(np.int64),
        }
    )
    return df.groupby(list(HOUR_KEYS), sort=False).sum().reset_index()


def frame_deltas(sums) -> dict[tuple, dict]:
    """`column_sums` as the dict deltas `apply` takes (money as Decimal)."""
    money = set(MONEY_MEASURES)
    out: dict[tuple, dict] = {}
    for row in sums.to_dict("records"):
        key = (
            row["day"].date(),
            int(row["hour"]),
            int(row["company_id"]),
            int(row["brand_id"]),
            *(row[k] for k in HOUR_KEYS[4:]),
        )
        out[key] = {
            m: (Decimal(int(row[m])).scaleb(-6) if m in money else float(row[m]) if m == "success_sum" else int(row[m]))
            for m in MEASURES
        }
    return out


def apply_frame(session: Session, sums) -> None:
    """PostgreSQL: add a frame of hourly deltas of new records (HOUR_KEYS + MEASURES columns, money in
    micro-dollars). The (company, day)s that have no rollup row yet, as in a backfill, are COPYed into the four
    rollups as they are (their daily sums grouped here): half the server's work of an upsert. The others go
    through a temporary table, then one upsert per rollup."""
    headroom.rollups_changed(session, {m: int(sums[m].sum()) for m in headroom.GUARDED})
    # The guard's lock is held from here to the commit, by every rollup writer: a (company, day) found without rows
    # stays so until these are in.
    fresh = _fresh_days(session, sums)
    if fresh.any():
        part = sums[fresh]
        _copy_frame(session, "usage_hourly", part.sort_values(list(HOUR_KEYS)))
        for model, keys in DAILY:
            _copy_frame(
                session,
                model.__tablename__,
                part.groupby(list(keys), sort=True)[[m for m in MEASURES if m in part.columns]].sum().reset_index(),
            )
    if not fresh.all():
        cols = _copy_frame(session, "tmp_usage_hourly", sums[~fresh], tmp_cursor(session))
        upsert_from_tmp(session, cols)


def _fresh_days(session: Session, sums):
    """The rows of `sums` whose (company_id, day) has no usage_daily row (so no row in any rollup: they move
    together), found by one index probe per pair."""
    import numpy as np

    pairs = sums[["company_id", "day"]].drop_duplicates()
    days = [d.date() for d in pairs["day"]]
    found = session.execute(
        text(
            "SELECT p.c, p.d FROM unnest(CAST(:c AS integer[]), CAST(:d AS date[])) AS p(c, d) "
            "WHERE EXISTS (SELECT 1 FROM usage_daily u WHERE u.company_id = p.c AND u.day = p.d)"
        ),
        {"c": [int(c) for c in pairs["company_id"]], "d": days},
    ).all()
    if not found:
        return np.ones(len(sums), dtype=bool)
    stored = {(int(c), d) for c, d in found}
    return np.array([(int(c), d.date()) not in stored for c, d in zip(sums["company_id"], sums["day"])], dtype=bool)


def _copy_frame(session: Session, table: str, frame, cur=None) -> list[str]:
    """COPY a frame of rollup rows (money in micro-dollars) into `table`; returns its columns."""
    import pyarrow as pa

    from core.storage.columns import copy_arrow, money_array

    cols = {k: pa.array(frame[k].to_numpy()) for k in frame.columns if k not in ("day", *MONEY_MEASURES)}
    cols["day"] = pa.array(frame["day"].to_numpy().astype("datetime64[D]"), pa.date32())
    cols.update({m: money_array(frame[m].to_numpy()) for m in MONEY_MEASURES if m in frame.columns})
    data = pa.table(cols)
    copy_arrow(cur or driver_cursor(session), table, data)
    return list(data.column_names)
