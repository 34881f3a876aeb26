"""The rollups: kept in step with the ledger inside the same transaction.

`usage_hourly` is keyed by HOUR_KEYS (KEYS and the UTC hour); `usage_daily` by KEYS; `usage_daily_model` by
NARROW_KEYS (no brand, no operation, ~10x fewer rows than usage_daily), and serves the views that group and
filter by neither; `usage_daily_scope` by SCOPE_KEYS (day, company, brand, operation: ~20x fewer rows), and serves
the breakdowns by brand and by operation. Whole days are read from the daily tables, the whole hours of a cut day
from the hourly one. Every insert adds its records to their hour's and day's rows; a correction (reprice, delete)
subtracts the old values and adds the new ones. Callers pass the hourly deltas only: the daily ones are summed
from them here, so the four tables always move together. A batch's deltas as columns: core/storage/rollup_frames.py;
a range recomputed from the raw ledger: core/storage/rollup_rebuild.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Date, Integer, cast, delete, func, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.storage import headroom
from core.storage.db import NativeStatement, is_sqlite
from core.storage.models import AIJobUsage, UsageDaily, UsageDailyModel, UsageDailyScope, UsageHourly

# The tables' keys in their primary keys' order (each column is declared once, in core.storage.rollup_models).
KEYS = tuple(c.name for c in UsageDaily.__table__.primary_key)
INT_MEASURES = (
    "jobs",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "execution_ms",
    "error_count",
    "memory_mb",
    "timed_jobs",
    "memory_jobs",
)
MONEY_MEASURES = ("cost_input", "cost_output", "total_cost")
MEASURES = INT_MEASURES + MONEY_MEASURES + ("success_sum",)
NARROW_KEYS = tuple(c.name for c in UsageDailyModel.__table__.primary_key)
SCOPE_KEYS = tuple(c.name for c in UsageDailyScope.__table__.primary_key)
HOUR_KEYS = tuple(c.name for c in UsageHourly.__table__.primary_key)
# The daily rollups, each with its key, in the order every writer locks their rows (after usage_hourly's).
DAILY = ((UsageDaily, KEYS), (UsageDailyModel, NARROW_KEYS), (UsageDailyScope, SCOPE_KEYS))
# Where each daily rollup's key sits in HOUR_KEYS.
_DAILY_AT = {model: [HOUR_KEYS.index(k) for k in keys] for model, keys in DAILY}
_NARROW_AT = _DAILY_AT[UsageDailyModel]
# The ledger column of each rollup measure, where the names differ.
RAW_SOURCE = {"memory_mb": "memory_usage_mb", "success_sum": "success_rate"}
# The measures a record may lack (NULL: not measured), each with the count of the jobs that have it: an average
# of the measure divides by that count, never by `jobs`.
MEASURED = {"execution_ms": "timed_jobs", "memory_mb": "memory_jobs"}


def raw_sum(measure: str):
    """SQL of a rollup measure over ledger rows: a sum (0 when every value is NULL), or a count of jobs."""
    u = AIJobUsage
    if measure == "jobs":
        return func.count()
    counted = next((m for m, n in MEASURED.items() if n == measure), None)
    if counted is not None:
        return func.count(getattr(u, RAW_SOURCE.get(counted, counted)))
    total = func.sum(getattr(u, RAW_SOURCE.get(measure, measure)))
    return func.coalesce(total, 0) if measure in MEASURED else total


def utc_day_hour(ts: datetime) -> tuple[date, int]:
    ts = ts.astimezone(UTC) if ts.tzinfo else ts
    return ts.date(), ts.hour


def day_expr(session: Session | str, column=AIJobUsage.created_at):
    """SQL expression for the UTC calendar day of a stored timestamp (for a session, or a dialect's name)."""
    if session == "sqlite" if isinstance(session, str) else is_sqlite(session):
        return func.date(column)
    return cast(func.timezone("UTC", column), Date)


def hour_expr(session: Session, column=AIJobUsage.created_at):
    """SQL expression for the UTC hour (0-23) of a stored timestamp."""
    if is_sqlite(session):  # stored as UTC text
        return cast(func.strftime("%H", column), Integer)
    return cast(func.extract("hour", func.timezone("UTC", column)), Integer)


# The ledger columns `accumulate` reads from a usage row.
ROW_FIELDS = (
    "created_at",
    "company_id",
    "brand_id",
    "provider_name",
    "model_name",
    "operation",
    "job_status",
    "pricing_status",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "execution_ms",
    "error_count",
    "memory_usage_mb",
    "cost_input",
    "cost_output",
    "total_cost",
    "success_rate",
)


def usage_row(u: AIJobUsage) -> dict:
    """A stored usage row as `accumulate` takes it: read before a correction (subtracted) and after (added)."""
    return {c: getattr(u, c) for c in ROW_FIELDS}


def accumulate(rows: Iterable[Mapping], sign: int = 1) -> dict[tuple, dict]:
    """Sum usage rows (dicts with the AIJobUsage column names) per HOUR_KEYS key (the deltas `apply` takes)."""
    out: dict[tuple, dict] = {}
    for r in rows:
        key = (
            *utc_day_hour(r["created_at"]),
            r["company_id"],
            r["brand_id"],
            r["provider_name"],
            r["model_name"],
            r["operation"],
            r["job_status"],
            r["pricing_status"],
        )
        acc = out.get(key)
        if acc is None:
            acc = out[key] = (
                {m: 0 for m in INT_MEASURES} | {m: Decimal(0) for m in MONEY_MEASURES} | {"success_sum": 0.0}
            )
        acc["jobs"] += sign
        for m in (
            "input_tokens",
            "output_tokens",
            "total_tokens",
            "cached_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
            "error_count",
        ):
            acc[m] += sign * r[m]
        # Not measured (None): no time or memory added, and the job is not among the measured ones.
        if r["execution_ms"] is not None:
            acc["execution_ms"] += sign * r["execution_ms"]
            acc["timed_jobs"] += sign
        if r["memory_usage_mb"] is not None:
            acc["memory_mb"] += sign * r["memory_usage_mb"]
            acc["memory_jobs"] += sign
        for m in MONEY_MEASURES:
            acc[m] += sign * r[m]
        acc["success_sum"] += sign * r["success_rate"]
    return out


def add_into(target: dict[tuple, dict], deltas: dict[tuple, dict]) -> dict[tuple, dict]:
    """Add hourly deltas into `target` (returned): a transaction's writes gathered for one `apply`."""
    for key, acc in deltas.items():
        cur = target.get(key)
        if cur is None:
            target[key] = dict(acc)
        else:
            for m, v in acc.items():
                cur[m] += v
    return target


def summed(deltas: dict[tuple, dict], at: list[int] = _NARROW_AT) -> dict[tuple, dict]:
    """Hourly deltas summed per coarser key (the values of HOUR_KEYS at `at`): the usage_daily_model deltas by
    default, another daily rollup's with its positions (_DAILY_AT)."""
    out: dict[tuple, dict] = {}
    for key, acc in deltas.items():
        add_into(out, {tuple(key[i] for i in at): acc})
    return out


_UPSERTS: dict[tuple, object] = {}


def _upsert(lite: bool, model=UsageDaily, keys: tuple = KEYS):
    """The add-on-conflict statement (`lite`: SQLite's), built once per database kind and table (building it
    costs more than running it)."""
    stmt = _UPSERTS.get((lite, model))
    if stmt is None:
        table = model.__table__
        ins = (sqlite.insert if lite else postgresql.insert)(table)
        stmt = _UPSERTS[(lite, model)] = ins.on_conflict_do_update(
            index_elements=list(keys),
            set_={m: getattr(table.c, m) + getattr(ins.excluded, m) for m in MEASURES},
        )
    return stmt


def apply(session: Session, deltas: dict[tuple, dict]) -> None:
    """Upsert-add the hourly deltas (keyed by HOUR_KEYS) into usage_hourly and, summed by day, into the daily
    rollups (DAILY); rows left with no job are removed from all four.

    Call it once per transaction (gather a transaction's deltas with `add_into`): one call locks rollup rows in
    one order, so concurrent writers cannot deadlock; a second call in the same transaction may need a row that a
    writer waiting on the first call's rows already holds.
    """
    if not deltas:
        return
    headroom.rollups_changed(session, {m: sum(_units(m, acc[m]) for acc in deltas.values()) for m in headroom.GUARDED})
    lite = is_sqlite(session)
    # Sorted keys: concurrent writers lock rollup rows in one order, so they cannot deadlock (and every writer
    # takes the hourly table's rows, then each daily rollup's in DAILY's order).
    values = [dict(zip(HOUR_KEYS, key)) | acc for key, acc in sorted(deltas.items(), key=lambda kv: kv[0])]
    if not lite and len(values) == 1:  # one key: one round trip for the four
        _ONE_PG.run(session, values[0])
    elif not lite and len(values) > 200:
        _apply_pg_copy(session, values)  # the daily sums are grouped in SQL from the same temporary table
    else:
        _execute(session, _upsert(lite, UsageHourly, HOUR_KEYS), values)
        for model, keys in DAILY:
            _execute(
                session,
                _upsert(lite, model, keys),
                [dict(zip(keys, key)) | acc for key, acc in sorted(summed(deltas, _DAILY_AT[model]).items())],
            )
    if any(acc["jobs"] < 0 for acc in deltas.values()):
        days = sorted({key[0] for key in deltas})  # the primary keys start with the day: no scan of the tables
        for model in (UsageHourly, *(m for m, _ in DAILY)):
            session.execute(delete(model).where(model.day.in_(days), model.jobs <= 0))


def _units(measure: str, value) -> int:
    """A measure as the write guard counts it: money in micro-dollars."""
    return int(Decimal(value).scaleb(6)) if measure in MONEY_MEASURES else int(value)


def add_one_sql(source: str, given: Mapping[str, str] | None = None) -> str:
    """PostgreSQL: the CTEs h, d, m and o (for a WITH clause) that add one key's deltas to the four rollups, for
    each row of `source` (none: nothing added). Values are driver parameters named as HOUR_KEYS and MEASURES,
    except those in `given` (column -> SQL over `source`). Each step reads the previous one's RETURNING row, so
    the rows are locked in the bulk path's order (hourly, then DAILY's order): no deadlock."""
    given = dict(given or {})

    def upsert(table: str, keys: tuple, src: str, exprs: Mapping[str, str], returning: str) -> str:
        cols = keys + MEASURES
        values = ", ".join(exprs.get(c, f"%({c})s") for c in cols)
        return (
            f"INSERT INTO {table} ({', '.join(cols)}) SELECT {values} FROM {src} ON CONFLICT "
            f"({', '.join(keys)}) DO UPDATE SET {_adds(table, list(MEASURES))} RETURNING {returning}"
        )

    ids = {"company_id": "h.company_id", "brand_id": "h.brand_id"}
    daily = {"company_id": "d.company_id", "brand_id": "d.brand_id"}
    return (
        f"h AS ({upsert('usage_hourly', HOUR_KEYS, source, given, 'company_id, brand_id')}), "
        f"d AS ({upsert('usage_daily', KEYS, 'h', ids, 'company_id, brand_id')}), "
        f"m AS ({upsert('usage_daily_model', NARROW_KEYS, 'd', daily, '1 AS one')}), "
        f"o AS ({upsert('usage_daily_scope', SCOPE_KEYS, 'd CROSS JOIN m', daily, '1')})"
    )


def driver_cursor(session: Session):
    """The session's driver cursor (psycopg: COPY)."""
    return session.connection().connection.driver_connection.cursor()


def _execute(session: Session, stmt, values: list[dict]) -> None:
    conn = session.connection()
    if len(values) == 1:
        conn.execute(stmt, values[0])  # one row: no executemany round trips
        return
    for i in range(0, len(values), 500):
        conn.execute(stmt, values[i : i + 500])


def _apply_pg_copy(session: Session, values: list[dict]) -> None:
    """Many keys at once: COPY into a temporary table, then one INSERT … ON CONFLICT DO UPDATE per rollup."""
    cols = list(HOUR_KEYS) + list(MEASURES)
    with tmp_cursor(session).copy(f"COPY tmp_usage_hourly ({', '.join(cols)}) FROM STDIN") as copy:
        for v in values:
            copy.write_row(tuple(v[c] for c in cols))
    upsert_from_tmp(session, cols)


def tmp_cursor(session: Session):
    """A driver cursor, with the temporary table of hourly deltas created if this connection has none yet."""
    session.execute(
        text(
            "CREATE TEMP TABLE IF NOT EXISTS tmp_usage_hourly "
            "(LIKE usage_hourly INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
    )
    return driver_cursor(session)


def upsert_from_tmp(session: Session, cols: list[str]) -> None:
    """The four rollups from the temporary table of hourly deltas: as they are, then grouped by day."""
    measures = [m for m in MEASURES if m in cols]
    sums = ", ".join(f"sum({m})" for m in measures)
    hourly = ", ".join(HOUR_KEYS)
    session.execute(
        text(
            f"INSERT INTO usage_hourly ({', '.join(cols)}) SELECT {', '.join(cols)} FROM tmp_usage_hourly "
            f"ORDER BY {hourly} ON CONFLICT ({hourly}) DO UPDATE SET {_adds('usage_hourly', measures)}"
        )
    )
    for model, keys in DAILY:
        table, keys = model.__tablename__, ", ".join(keys)
        session.execute(
            text(
                f"INSERT INTO {table} ({keys}, {', '.join(measures)}) SELECT {keys}, {sums} FROM tmp_usage_hourly "
                f"GROUP BY {keys} ORDER BY {keys} ON CONFLICT ({keys}) DO UPDATE SET {_adds(table, measures)}"
            )
        )
    session.execute(text("DELETE FROM tmp_usage_hourly"))


def _adds(table: str, measures: list[str]) -> str:
    return ", ".join(f"{m} = {table}.{m} + EXCLUDED.{m}" for m in measures)


def add_rows(session: Session, rows: Iterable[Mapping], sign: int = 1) -> None:
    """`apply` of these rows' deltas (the transaction's only call: see `apply`)."""
    apply(session, accumulate(rows, sign))


_ONE_PG = NativeStatement(f"WITH {add_one_sql('(SELECT 1) AS one')} SELECT 1")
