"""The daily rollups: kept in step with the ledger inside the same transaction.

`usage_daily` is keyed by KEYS; `usage_daily_model` (NARROW_KEYS: no brand, no operation, ~10x fewer rows) holds
the same sums and serves the views that group and filter by neither. Every insert adds its records to their
day's rows; a correction (reprice, delete) subtracts the old values and adds the new ones. Callers pass the wide
deltas only: the narrow ones are derived here, so both tables always move together. `rebuild` recomputes a
range from the raw ledger (repair, and the reference in tests).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa

from sqlalchemy import Date, and_, cast, delete, func, insert, literal_column, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.models import AIJobUsage, UsageDaily, UsageDailyModel
from core.writers import copy_arrow, money_array

KEYS = ("day", "company_id", "brand_id", "provider_name", "model_name", "operation", "job_status",
        "pricing_status")
INT_MEASURES = ("jobs", "input_tokens", "output_tokens", "total_tokens", "cached_tokens", "cache_write_tokens",
                "reasoning_tokens", "execution_ms", "error_count", "memory_mb")
MONEY_MEASURES = ("cost_input", "cost_output", "total_cost")
MEASURES = INT_MEASURES + MONEY_MEASURES + ("success_sum",)
NARROW_KEYS = ("day", "company_id", "provider_name", "model_name", "job_status", "pricing_status")
_NARROW_AT = [KEYS.index(k) for k in NARROW_KEYS]


def utc_day(ts: datetime) -> date:
    return (ts.astimezone(UTC) if ts.tzinfo else ts).date()


def day_expr(session: Session, column=AIJobUsage.created_at):
    """SQL expression for the UTC calendar day of a stored timestamp."""
    if session.get_bind().dialect.name == "sqlite":
        return func.date(column)
    return cast(func.timezone("UTC", column), Date)


def accumulate(rows: Iterable[Mapping], sign: int = 1) -> dict[tuple, dict]:
    """Sum usage rows (dicts with the AIJobUsage column names) per rollup key."""
    out: dict[tuple, dict] = {}
    for r in rows:
        key = (utc_day(r["created_at"]), r["company_id"], r["brand_id"], r["provider_name"], r["model_name"],
               r["operation"], r["job_status"], r["pricing_status"])
        acc = out.get(key)
        if acc is None:
            acc = out[key] = {m: 0 for m in INT_MEASURES} | {m: Decimal(0) for m in MONEY_MEASURES} | {
                "success_sum": 0.0}
        acc["jobs"] += sign
        for m in ("input_tokens", "output_tokens", "total_tokens", "cached_tokens", "cache_write_tokens",
                  "reasoning_tokens", "execution_ms", "error_count"):
            acc[m] += sign * r[m]
        acc["memory_mb"] += sign * r["memory_usage_mb"]
        for m in MONEY_MEASURES:
            acc[m] += sign * r[m]
        acc["success_sum"] += sign * r["success_rate"]
    return out


def narrow(deltas: dict[tuple, dict]) -> dict[tuple, dict]:
    """The wide deltas summed per NARROW_KEYS key (the usage_daily_model deltas)."""
    out: dict[tuple, dict] = {}
    for key, acc in deltas.items():
        nkey = tuple(key[i] for i in _NARROW_AT)
        cur = out.get(nkey)
        if cur is None:
            out[nkey] = dict(acc)
        else:
            for m, v in acc.items():
                cur[m] += v
    return out


_UPSERTS: dict[tuple, object] = {}


def _upsert(dialect: str, model=UsageDaily, keys: tuple = KEYS):
    """The add-on-conflict statement, built once per dialect and table (building it costs more than running it)."""
    stmt = _UPSERTS.get((dialect, model))
    if stmt is None:
        table = model.__table__
        ins = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(table)
        stmt = _UPSERTS[(dialect, model)] = ins.on_conflict_do_update(
            index_elements=list(keys),
            set_={m: getattr(table.c, m) + getattr(ins.excluded, m) for m in MEASURES},
        )
    return stmt


def apply(session: Session, deltas: dict[tuple, dict]) -> None:
    """Upsert-add the deltas into usage_daily and, summed by NARROW_KEYS, into usage_daily_model; rows left with
    no job are removed from both."""
    if not deltas:
        return
    dialect = session.get_bind().dialect.name
    # Sorted keys: concurrent writers lock rollup rows in one order, so they cannot deadlock (and both writers
    # take the wide table's rows before the narrow one's).
    values = [dict(zip(KEYS, key)) | acc for key, acc in sorted(deltas.items(), key=lambda kv: kv[0])]
    if dialect != "sqlite" and len(values) > 200:
        _apply_pg_copy(session, values)  # the narrow sums are grouped in SQL from the same temporary table
    else:
        _execute(session, _upsert(dialect), values)
        _execute(session, _upsert(dialect, UsageDailyModel, NARROW_KEYS),
                 [dict(zip(NARROW_KEYS, key)) | acc for key, acc in sorted(narrow(deltas).items())])
    if any(acc["jobs"] < 0 for acc in deltas.values()):
        session.execute(delete(UsageDaily).where(UsageDaily.jobs <= 0))
        session.execute(delete(UsageDailyModel).where(UsageDailyModel.jobs <= 0))


def _execute(session: Session, stmt, values: list[dict]) -> None:
    conn = session.connection()
    if len(values) == 1:
        conn.execute(stmt, values[0])  # one row: no executemany round trips
        return
    for i in range(0, len(values), 500):
        conn.execute(stmt, values[i:i + 500])


def _apply_pg_copy(session: Session, values: list[dict]) -> None:
    """Many keys at once: COPY into a temporary table, then one INSERT … ON CONFLICT DO UPDATE."""
    cols = list(KEYS) + list(MEASURES)
    with _tmp_cursor(session).copy(f"COPY tmp_usage_daily ({', '.join(cols)}) FROM STDIN") as copy:
        for v in values:
            copy.write_row(tuple(v[c] for c in cols))
    _upsert_from_tmp(session, cols)


def apply_frame(session: Session, sums) -> None:
    """PostgreSQL: add a frame of deltas (KEYS + MEASURES columns, money in micro-dollars) — one COPY of an
    Arrow table, then one upsert per rollup."""
    cols = {k: pa.array(sums[k].to_numpy()) for k in sums.columns if k not in ("day", *MONEY_MEASURES)}
    cols["day"] = pa.array(sums["day"].to_numpy().astype("datetime64[D]"), pa.date32())
    cols.update({m: money_array(sums[m].to_numpy()) for m in MONEY_MEASURES})
    deltas = pa.table(cols)
    copy_arrow(_tmp_cursor(session), "tmp_usage_daily", deltas)
    _upsert_from_tmp(session, list(deltas.column_names))


def _tmp_cursor(session: Session):
    """A driver cursor, with the temporary table of wide deltas created if this connection has none yet."""
    session.execute(text("CREATE TEMP TABLE IF NOT EXISTS tmp_usage_daily "
                         "(LIKE usage_daily INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"))
    return session.connection().connection.driver_connection.cursor()


def _upsert_from_tmp(session: Session, cols: list[str]) -> None:
    """Both rollups from the temporary table of wide deltas: as they are, then grouped by the narrow key."""
    measures = [m for m in MEASURES if m in cols]
    wide = ", ".join(KEYS)
    session.execute(text(
        f"INSERT INTO usage_daily ({', '.join(cols)}) SELECT {', '.join(cols)} FROM tmp_usage_daily "
        f"ORDER BY {wide} ON CONFLICT ({wide}) DO UPDATE SET {_adds('usage_daily', measures)}"))
    keys = ", ".join(NARROW_KEYS)
    sums = ", ".join(f"sum({m})" for m in measures)
    session.execute(text(
        f"INSERT INTO usage_daily_model ({keys}, {', '.join(measures)}) SELECT {keys}, {sums} FROM tmp_usage_daily "
        f"GROUP BY {keys} ORDER BY {keys} ON CONFLICT ({keys}) DO UPDATE SET {_adds('usage_daily_model', measures)}"))
    session.execute(text("DELETE FROM tmp_usage_daily"))


def _adds(table: str, measures: list[str]) -> str:
    return ", ".join(f"{m} = {table}.{m} + EXCLUDED.{m}" for m in measures)


def add_rows(session: Session, rows: Iterable[Mapping], sign: int = 1) -> None:
    apply(session, accumulate(rows, sign))


def rebuild(session: Session, start: date | None = None, end: date | None = None) -> int:
    """Recompute usage_daily for [start, end) from the raw ledger, then usage_daily_model from it; returns the
    number of usage_daily rows."""
    day = day_expr(session)
    where = []
    if start is not None:
        where.append(AIJobUsage.created_at >= datetime.combine(start, datetime.min.time(), UTC))
    if end is not None:
        where.append(AIJobUsage.created_at < datetime.combine(end, datetime.min.time(), UTC))
    cond = and_(*where) if where else literal_column("1") == 1
    session.execute(delete(UsageDaily).where(*_days(UsageDaily, start, end)))
    u = AIJobUsage
    sel = select(
        day.label("day"), u.company_id, u.brand_id, u.provider_name, u.model_name, u.operation, u.job_status,
        u.pricing_status, func.count().label("jobs"), func.sum(u.input_tokens), func.sum(u.output_tokens),
        func.sum(u.total_tokens), func.sum(u.cached_tokens), func.sum(u.cache_write_tokens),
        func.sum(u.reasoning_tokens), func.sum(u.execution_ms), func.sum(u.error_count),
        func.sum(u.memory_usage_mb), func.sum(u.cost_input), func.sum(u.cost_output), func.sum(u.total_cost),
        func.sum(u.success_rate),
    ).where(cond).group_by(day, u.company_id, u.brand_id, u.provider_name, u.model_name, u.operation,
                           u.job_status, u.pricing_status)
    cols = list(KEYS) + list(INT_MEASURES) + list(MONEY_MEASURES) + ["success_sum"]
    result = session.execute(insert(UsageDaily).from_select(cols, sel))
    # The narrow rows of those days: usage_daily summed by the narrow key (sums of sums, exact; no raw re-read).
    session.execute(delete(UsageDailyModel).where(*_days(UsageDailyModel, start, end)))
    d = UsageDaily
    keys = [getattr(d, k) for k in NARROW_KEYS]
    sel = (select(*keys, *[func.sum(getattr(d, m)) for m in MEASURES]).where(*_days(UsageDaily, start, end))
           .group_by(*keys))
    session.execute(insert(UsageDailyModel).from_select(list(NARROW_KEYS) + list(MEASURES), sel))
    return result.rowcount or 0


def _days(model, start: date | None, end: date | None) -> list:
    """Conditions on a rollup's day for [start, end) (None: unbounded)."""
    return [c for c in (None if start is None else model.day >= start, None if end is None else model.day < end)
            if c is not None]
