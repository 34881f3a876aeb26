"""The daily rollup (`usage_daily`): kept in step with the ledger inside the same transaction.

Every insert adds its records to their day's row; a correction (reprice, delete) subtracts the old values and
adds the new ones. `rebuild` recomputes a range from the raw ledger (repair, and the reference in tests).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Date, and_, cast, delete, func, insert, literal_column, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.models import AIJobUsage, UsageDaily
from core.writers import copy_arrow

KEYS = ("day", "company_id", "brand_id", "provider_name", "model_name", "operation", "job_status",
        "pricing_status")
INT_MEASURES = ("jobs", "input_tokens", "output_tokens", "total_tokens", "cached_tokens", "cache_write_tokens",
                "reasoning_tokens", "execution_ms", "error_count", "memory_mb")
MONEY_MEASURES = ("cost_input", "cost_output", "total_cost")
MEASURES = INT_MEASURES + MONEY_MEASURES + ("success_sum",)


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


_UPSERTS: dict[str, object] = {}


def _upsert(dialect: str):
    """The add-on-conflict statement, built once per dialect (building it costs more than running it)."""
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        ins = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(UsageDaily.__table__)
        stmt = _UPSERTS[dialect] = ins.on_conflict_do_update(
            index_elements=list(KEYS),
            set_={m: getattr(UsageDaily.__table__.c, m) + getattr(ins.excluded, m) for m in MEASURES},
        )
    return stmt


def apply(session: Session, deltas: dict[tuple, dict]) -> None:
    """Upsert-add the deltas into usage_daily; rows left with no job are removed."""
    if not deltas:
        return
    dialect = session.get_bind().dialect.name
    values = [dict(zip(KEYS, key)) | acc for key, acc in sorted(deltas.items(), key=lambda kv: kv[0])]
    # Sorted keys: concurrent writers lock rollup rows in one order, so they cannot deadlock.
    if dialect != "sqlite" and len(values) > 200:
        _apply_pg_copy(session, values)
    elif len(values) == 1:
        session.connection().execute(_upsert(dialect), values[0])  # one row: no executemany round trips
    else:
        conn = session.connection()
        for i in range(0, len(values), 500):
            conn.execute(_upsert(dialect), values[i:i + 500])
    if any(acc["jobs"] < 0 for acc in deltas.values()):
        session.execute(delete(UsageDaily).where(UsageDaily.jobs <= 0))


def _apply_pg_copy(session: Session, values: list[dict]) -> None:
    """Many keys at once: COPY into a temporary table, then one INSERT … ON CONFLICT DO UPDATE."""
    cols = list(KEYS) + list(MEASURES)
    session.execute(text("CREATE TEMP TABLE IF NOT EXISTS tmp_usage_daily "
                         "(LIKE usage_daily INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"))
    cur = session.connection().connection.driver_connection.cursor()
    with cur.copy(f"COPY tmp_usage_daily ({', '.join(cols)}) FROM STDIN") as copy:
        for v in values:
            copy.write_row(tuple(v[c] for c in cols))
    _upsert_from_tmp(session, cols)


def apply_copy(session: Session, deltas) -> None:
    """PostgreSQL: add an Arrow table of deltas (KEYS + MEASURES columns) — COPY, then one upsert."""
    session.execute(text("CREATE TEMP TABLE IF NOT EXISTS tmp_usage_daily "
                         "(LIKE usage_daily INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"))
    copy_arrow(session.connection().connection.driver_connection.cursor(), "tmp_usage_daily", deltas)
    _upsert_from_tmp(session, list(deltas.column_names))


def _upsert_from_tmp(session: Session, cols: list[str]) -> None:
    updates = ", ".join(f"{m} = usage_daily.{m} + EXCLUDED.{m}" for m in MEASURES)
    session.execute(text(
        f"INSERT INTO usage_daily ({', '.join(cols)}) SELECT {', '.join(cols)} FROM tmp_usage_daily "
        f"ORDER BY {', '.join(KEYS)} ON CONFLICT ({', '.join(KEYS)}) DO UPDATE SET {updates}"))
    session.execute(text("DELETE FROM tmp_usage_daily"))


def add_rows(session: Session, rows: Iterable[Mapping], sign: int = 1) -> None:
    apply(session, accumulate(rows, sign))


def rebuild(session: Session, start: date | None = None, end: date | None = None) -> int:
    """Recompute usage_daily for [start, end) from the raw ledger; returns the number of rollup rows."""
    day = day_expr(session)
    where = []
    if start is not None:
        where.append(AIJobUsage.created_at >= datetime.combine(start, datetime.min.time(), UTC))
    if end is not None:
        where.append(AIJobUsage.created_at < datetime.combine(end, datetime.min.time(), UTC))
    cond = and_(*where) if where else literal_column("1") == 1
    del_cond = []
    if start is not None:
        del_cond.append(UsageDaily.day >= start)
    if end is not None:
        del_cond.append(UsageDaily.day < end)
    session.execute(delete(UsageDaily).where(*del_cond) if del_cond else delete(UsageDaily))
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
    return result.rowcount or 0
