"""The ledger's one write path: a batch of priced records into ai_jobs and ai_job_usage, past the write guard
(core/storage/headroom.py), and its rollup deltas (core/storage/rollups.py), in the caller's transaction.

Every record comes in here: one call (`record_usage`), the batches of applications and syncs, the import. A
batch is columns (see BATCH); `from_rows` makes one from records as dicts. Writing it:
- the same job_id twice in the batch: the first (by position) is written, each other one is a duplicate (same
  fingerprint) or a conflict; a job_id already stored is a duplicate or a conflict too, the stored row untouched;
- company and brand ids by name, created on first sight;
- the write guard refuses the records that would take a lifetime total past what storage holds: written, then
  removed again, each named;
- the rollups get the batch's deltas in one update (one `rollups.apply` per transaction: see there).

PostgreSQL writes optimistically: COPY in a savepoint, the unique index on job_id as the check, so a bulk load of
new records pays no look-up; on a clash, the stored job_ids are looked up and classified and the rest written
again. Ids are taken up front (a sequence batch), so no RETURNING per row. SQLite looks first, under its write
lock, which also keeps the ids it picks (MAX(id) + 1…) free. One record on PostgreSQL is one statement
(`write_one`): the job, its usage row, the guard and the three rollups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import psycopg
import pyarrow as pa
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import InvalidRecord
from core.storage import headroom, one_record, rollups
from core.storage.bounds import MAX_RECORD_COST_MICROS
from core.storage.columns import copy_arrow, factorize, money_array, pylist, take
from core.storage.columns import text as text_array
from core.storage.db import is_sqlite, lock_for_write
from core.storage.names import NameIds

JOB_COLS = (
    "id",
    "job_id",
    "company_id",
    "brand_id",
    "job_type",
    "status",
    "operation",
    "description",
    "source",
    "is_demo",
    "request_id",
    "fingerprint",
    "created_at",
)
USAGE_COLS = (
    "ai_job_id",
    "company_id",
    "brand_id",
    "job_status",
    "operation",
    "created_at",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_input",
    "cost_output",
    "total_cost",
    "pricing_status",
    "execution_ms",
    "memory_usage_mb",
    "provider_name",
    "model_name",
    "success_rate",
    "error_count",
    "error_class",
)
# A batch, column by column: TEXT as Arrow strings (None: NULL); COUNTS and MONEY (micro-dollars) as int64, with
# execution_ms and memory_usage_mb 0 where `timed` / `memory_measured` (bool) say not measured (stored NULL);
# created_at as datetime64[us] (UTC); success_rate as float64; position (int64): the caller's key of each record,
# which orders the records (the first of a job_id wins; the guard admits in order) and names them in the Outcome.
TEXT = (
    "job_id",
    "company",
    "brand",
    "job_type",
    "status",
    "operation",
    "description",
    "provider",
    "model",
    "pricing_status",
    "fingerprint",
    "error_class",
    "request_id",
)
COUNTS = (
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "execution_ms",
    "memory_usage_mb",
    "error_count",
)
MONEY = ("cost_input", "cost_output")
BATCH = TEXT + COUNTS + MONEY + ("timed", "memory_measured", "created_at", "success_rate", "position")
LOOKUP_CHUNK = 5000  # SQLite: bound values per IN (...)
SMALL = 200  # up to this many records, rollup deltas are summed in Python, not by pandas
_SEQUENCES: dict = {}  # database URL -> the name of ai_jobs' id sequence


@dataclass
class Outcome:
    inserted: int = 0
    duplicates: int = 0
    conflicts: list[tuple[int, str]] = field(default_factory=list)  # (position, job_id)
    refused: list[tuple[int, InvalidRecord]] = field(default_factory=list)  # (position, why): the write guard's
    # `write_one` in one statement: the ids it gave (job, usage, company_id, brand_id) and the company's created_at
    written: dict | None = None


def _naive_utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts


def from_rows(rows: Sequence[Mapping], positions: Sequence[int] | None = None) -> dict:
    """A batch from records as dicts keyed as its columns: money as Decimal, created_at a datetime, None for a time
    or memory not measured."""
    c: dict = {k: text_array([r.get(k) for r in rows]) for k in TEXT}
    for k in COUNTS:
        c[k] = np.array([r[k] or 0 for r in rows], dtype=np.int64)
    for k in MONEY:
        c[k] = np.array([int(r[k].scaleb(6)) for r in rows], dtype=np.int64)
    c["timed"] = np.array([r["execution_ms"] is not None for r in rows], dtype=bool)
    c["memory_measured"] = np.array([r["memory_usage_mb"] is not None for r in rows], dtype=bool)
    c["created_at"] = np.array([_naive_utc(r["created_at"]) for r in rows], dtype="datetime64[us]")
    c["success_rate"] = np.array([r["success_rate"] for r in rows], dtype=np.float64)
    c["position"] = np.arange(len(rows), dtype=np.int64) if positions is None else np.asarray(positions, np.int64)
    return c


def write(
    session: Session,
    c: dict,
    *,
    source: str = "api",
    is_demo: bool = False,
    names_apart: bool = False,
    extra_deltas: dict | None = None,
) -> Outcome:
    """Store a batch (see BATCH) and add it to the rollups. `names_apart`: create new company and brand names in
    transactions of their own (see NameIds). `extra_deltas`: rollup changes of the same transaction (hourly deltas,
    as rollups.accumulate gives them), applied with this batch's in the one update."""
    out = Outcome()
    stored = None
    if len(c["position"]):
        c = {**c, **{k: text_array(c[k]) for k in TEXT}}
        c = _first_of_each(c, out)
        _name_ids(session, c, names_apart)
        c["total_tokens"] = c["input_tokens"] + c["output_tokens"]
        c["total_cost"] = c["cost_input"] + c["cost_output"]
        stored = (_insert_sqlite if is_sqlite(session) else _insert_pg)(session, c, out, source, is_demo)
        if stored is not None:
            stored = _guard(session, stored, out)
        out.inserted = 0 if stored is None else len(stored["position"])
    _apply_rollups(session, stored, extra_deltas)
    out.conflicts.sort()
    out.refused.sort(key=lambda r: r[0])
    return out


def _first_of_each(c: dict, out: Outcome) -> dict:
    """The batch without its repeated job_ids: the first (by position) stays, the others are counted."""
    job_ids = pylist(c["job_id"])
    if len(set(job_ids)) == len(job_ids):
        return c
    first: dict[str, str] = {}
    keep = np.zeros(len(job_ids), dtype=bool)
    fingerprints = pylist(c["fingerprint"])
    for i in np.argsort(c["position"], kind="stable").tolist():
        seen = first.get(job_ids[i])
        if seen is None:
            first[job_ids[i]] = fingerprints[i]
            keep[i] = True
        elif seen == fingerprints[i]:
            out.duplicates += 1
        else:
            out.conflicts.append((int(c["position"][i]), job_ids[i]))
    return take(c, np.flatnonzero(keep))


def _name_ids(session: Session, c: dict, names_apart: bool) -> None:
    names = NameIds(session, commit_new=names_apart and not is_sqlite(session))
    pairs, _, codes = factorize(c["company"], c["brand"])
    ids = np.array([names.ids(co, br) for co, br in pairs], dtype=np.int64).reshape(-1, 2)
    c["company_id"], c["brand_id"] = ids[codes, 0], ids[codes, 1]


def stored_fingerprints(session: Session, job_ids: list[str]) -> dict[str, str]:
    """{job_id: fingerprint} of those of `job_ids` already in the ledger."""
    out: dict[str, str] = {}
    if not is_sqlite(session):
        # One array parameter instead of thousands of bound values: far cheaper to send and plan.
        for i in range(0, len(job_ids), 50_000):
            out.update(
                session.execute(
                    text("SELECT job_id, fingerprint FROM ai_jobs WHERE job_id = ANY(:ids)"),
                    {"ids": job_ids[i : i + 50_000]},
                ).all()
            )
        return out
    for i in range(0, len(job_ids), LOOKUP_CHUNK):
        part = job_ids[i : i + LOOKUP_CHUNK]
        marks = ", ".join("?" * len(part))
        out.update(
            session.connection()
            .exec_driver_sql(f"SELECT job_id, fingerprint FROM ai_jobs WHERE job_id IN ({marks})", tuple(part))
            .all()
        )
    return out


def _drop_stored(c: dict, stored: dict[str, str], out: Outcome) -> dict | None:
    """The batch without the job_ids already stored, each counted a duplicate or a conflict; None if none is left."""
    if not stored:
        return c
    job_ids, fingerprints = pylist(c["job_id"]), pylist(c["fingerprint"])
    keep = []
    for i, jid in enumerate(job_ids):
        known = stored.get(jid)
        if known is None:
            keep.append(i)
        elif known == fingerprints[i]:
            out.duplicates += 1
        else:
            out.conflicts.append((int(c["position"][i]), jid))
    return take(c, keep) if keep else None


def _driver(session: Session):
    return session.connection().connection.driver_connection


def _new_ids(session: Session, n: int) -> np.ndarray:
    """n ai_jobs ids from its sequence, as one array value (fetching 50,000 rows one by one costs more than the COPY
    of the jobs). The sequence is named as a constant: looked up per row (pg_get_serial_sequence), it took 4x as
    long, a tenth of the batch's COPY."""
    url = session.get_bind().url
    seq = _SEQUENCES.get(url)
    if seq is None:
        seq = _SEQUENCES[url] = session.execute(text("SELECT pg_get_serial_sequence('ai_jobs', 'id')")).scalar()
    ids = session.execute(
        text("SELECT array_agg(nextval(CAST(:seq AS regclass))) FROM generate_series(1, :n)"), {"seq": seq, "n": n}
    ).scalar()
    return np.array(ids, dtype=np.int64)


def _insert_pg(session: Session, c: dict, out: Outcome, source: str, is_demo: bool) -> dict | None:
    for _ in range(3):
        n = len(c["position"])
        ids = _new_ids(session, n)
        ts = c["created_at"]
        order = None
        if n > 1 and not (ts[1:] >= ts[:-1]).all():
            # Written in time order: each time-led index then takes the batch in runs along its leaves instead of
            # at random ones (a shuffled 250k batch into 10M rows: 30k records/s server-side, sorted 55k).
            order = np.argsort(ts, kind="stable")
            at = np.empty_like(ids)
            at[order] = ids  # ids rise with time too
            ids = at
        jobs, usage = _tables(c, ids, source, is_demo)
        if order is not None:
            jobs, usage = (t.take(pa.array(order)) for t in (jobs, usage))
        try:
            with session.begin_nested():
                cur = _driver(session).cursor()
                # Naive UTC timestamps in the CSV: Arrow writes those 15x faster than zoned ones.
                zone = cur.execute(
                    "SELECT current_setting('TimeZone'), set_config('TimeZone', 'UTC', true)"
                ).fetchone()[0]
                copy_arrow(cur, "ai_jobs", jobs)
                copy_arrow(cur, "ai_job_usage", usage)
                cur.execute("SELECT set_config('TimeZone', %s, true)", (zone,))
        except (IntegrityError, psycopg.errors.UniqueViolation):  # raw COPY raises the driver's own error
            # Some job_ids were stored meanwhile or before: classify them, write the rest.
            c = _drop_stored(c, stored_fingerprints(session, pylist(c["job_id"])), out)
            if c is None:
                return None
            continue
        c["id"] = ids
        return c
    raise RuntimeError("ingest: a concurrent writer keeps storing the same job_ids; run the import again")


def _const(value, n: int, kind) -> pa.Array:
    return pa.nulls(n, kind) if value is None else pa.repeat(pa.scalar(value, kind), n)


def _tables(c: dict, ids: np.ndarray, source: str, is_demo: bool) -> tuple[pa.Table, pa.Table]:
    n = len(ids)
    ts = pa.array(c["created_at"], pa.timestamp("us"))
    s = pa.string()
    jobs = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "job_id": c["job_id"],
            "company_id": pa.array(c["company_id"]),
            "brand_id": pa.array(c["brand_id"]),
            "job_type": c["job_type"],
            "status": c["status"],
            "operation": c["operation"],
            "description": c["description"],
            "source": _const(source, n, s),
            "is_demo": _const(bool(is_demo), n, pa.bool_()),
            "request_id": c["request_id"],
            "fingerprint": c["fingerprint"],
            "created_at": ts,
        }
    )
    usage = pa.table(
        {
            "ai_job_id": jobs["id"],
            "company_id": jobs["company_id"],
            "brand_id": jobs["brand_id"],
            "job_status": c["status"],
            "operation": c["operation"],
            "created_at": ts,
            **{
                k: pa.array(c[k], pa.int64())
                for k in (
                    "input_tokens",
                    "output_tokens",
                    "total_tokens",
                    "cached_tokens",
                    "cache_write_tokens",
                    "reasoning_tokens",
                )
            },
            "cost_input": money_array(c["cost_input"]),
            "cost_output": money_array(c["cost_output"]),
            "total_cost": money_array(c["total_cost"]),
            "pricing_status": c["pricing_status"],
            "execution_ms": pa.array(c["execution_ms"], pa.int64(), mask=~c["timed"]),  # NULL: not measured
            "memory_usage_mb": pa.array(c["memory_usage_mb"], pa.int64(), mask=~c["memory_measured"]),
            "provider_name": c["provider"],
            "model_name": c["model"],
            "success_rate": pa.array(c["success_rate"], pa.float64()),
            "error_count": pa.array(c["error_count"], pa.int64()),
            "error_class": c["error_class"],
        }
    )
    assert tuple(jobs.column_names) == JOB_COLS and tuple(usage.column_names) == USAGE_COLS
    return jobs, usage


def _measured(values: np.ndarray, measured: np.ndarray) -> list:
    """The values as a list, None (NULL) where not measured."""
    return [v if m else None for v, m in zip(values.tolist(), measured.tolist())]


def _insert_sqlite(session: Session, c: dict, out: Outcome, source: str, is_demo: bool) -> dict | None:
    lock_for_write(session)
    c = _drop_stored(c, stored_fingerprints(session, pylist(c["job_id"])), out)
    if c is None:
        return None
    n = len(c["position"])
    start = session.execute(text("SELECT COALESCE(MAX(id), 0) FROM ai_jobs")).scalar() + 1
    c["id"] = np.arange(start, start + n, dtype=np.int64)
    ids = c["id"].tolist()
    times = [s.replace("T", " ") for s in np.datetime_as_string(c["created_at"], unit="us").tolist()]
    company, brand = c["company_id"].tolist(), c["brand_id"].tolist()
    status, operation = pylist(c["status"]), pylist(c["operation"])
    jobs = zip(
        ids,
        pylist(c["job_id"]),
        company,
        brand,
        pylist(c["job_type"]),
        status,
        operation,
        pylist(c["description"]),
        [source] * n,
        [1 if is_demo else 0] * n,
        pylist(c["request_id"]),
        pylist(c["fingerprint"]),
        times,
    )
    dbapi = _driver(session)
    dbapi.executemany(
        f"INSERT INTO ai_jobs ({', '.join(JOB_COLS)}) VALUES ({', '.join('?' * len(JOB_COLS))})", list(jobs)
    )
    cols = [
        ids,
        company,
        brand,
        status,
        operation,
        times,
        *(
            c[k].tolist()
            for k in (
                "input_tokens",
                "output_tokens",
                "total_tokens",
                "cached_tokens",
                "cache_write_tokens",
                "reasoning_tokens",
                "cost_input",
                "cost_output",
                "total_cost",
            )
        ),
        pylist(c["pricing_status"]),
        _measured(c["execution_ms"], c["timed"]),
        _measured(c["memory_usage_mb"], c["memory_measured"]),
        pylist(c["provider"]),
        pylist(c["model"]),
        c["success_rate"].tolist(),
        c["error_count"].tolist(),
        pylist(c["error_class"]),
    ]
    dbapi.executemany(
        f"INSERT INTO ai_job_usage ({', '.join(USAGE_COLS)}) VALUES ({', '.join('?' * len(USAGE_COLS))})",
        list(zip(*cols)),
    )
    return c


def _guard(session: Session, c: dict, out: Outcome) -> dict | None:
    """The stored rows the write guard admits; the others are deleted again and reported."""
    values = {m: c[headroom.RECORD_FIELDS.get(m, m)] for m in headroom.GUARDED}
    job_ids: list = []

    def job_id(i: int) -> str:
        if not job_ids:
            job_ids.extend(pylist(c["job_id"]))
        return job_ids[i]

    refusals = headroom.check(session, c["position"], values, job_id)
    if not refusals:
        return c
    gone = np.array([r.index for r in refusals], dtype=np.int64)
    ids = c["id"][gone].tolist()
    for i in range(0, len(ids), LOOKUP_CHUNK):
        part = ids[i : i + LOOKUP_CHUNK]
        marks = ", ".join(str(int(v)) for v in part)  # integers we chose
        session.execute(text(f"DELETE FROM ai_job_usage WHERE ai_job_id IN ({marks})"))
        session.execute(text(f"DELETE FROM ai_jobs WHERE id IN ({marks})"))
    out.refused.extend((r.key, r.error) for r in refusals)
    keep = np.setdiff1d(np.arange(len(c["position"])), gone)
    return take(c, keep) if len(keep) else None


def _apply_rollups(session: Session, c: dict | None, extra: dict | None) -> None:
    """One rollup update for the batch and `extra` (see rollups.apply). PostgreSQL takes a large batch alone as
    one Arrow COPY of its deltas."""
    deltas = {} if extra is None else extra
    if c is not None and len(c["position"]) > SMALL:
        sums = rollups.column_sums(c)
        if not deltas and not is_sqlite(session):
            rollups.apply_frame(session, sums)
            return
        rollups.add_into(deltas, rollups.frame_deltas(sums))
    elif c is not None:
        rollups.add_into(deltas, rollups.accumulate(_usage_rows(c)))
    rollups.apply(session, deltas)


def _usage_rows(c: dict) -> list[dict]:
    """A small batch as usage rows (the ledger's column names), for rollups.accumulate."""
    n = len(c["position"])
    money = {k: [Decimal(v).scaleb(-6) for v in c[k].tolist()] for k in ("cost_input", "cost_output", "total_cost")}
    cols = {
        "created_at": c["created_at"].astype(object).tolist(),
        "company_id": c["company_id"].tolist(),
        "brand_id": c["brand_id"].tolist(),
        "provider_name": pylist(c["provider"]),
        "model_name": pylist(c["model"]),
        "operation": pylist(c["operation"]),
        "job_status": pylist(c["status"]),
        "pricing_status": pylist(c["pricing_status"]),
        **{
            k: c[k].tolist()
            for k in (
                "input_tokens",
                "output_tokens",
                "total_tokens",
                "cached_tokens",
                "cache_write_tokens",
                "reasoning_tokens",
                "error_count",
            )
        },
        "execution_ms": _measured(c["execution_ms"], c["timed"]),
        "memory_usage_mb": _measured(c["memory_usage_mb"], c["memory_measured"]),
        "success_rate": c["success_rate"].tolist(),
        **money,
    }
    return [{k: v[i] for k, v in cols.items()} for i in range(n)]


def write_one(
    session: Session, row: Mapping, *, source: str = "api", is_demo: bool = False, prices: str | None = None
) -> Outcome | None:
    """One record (a dict as `from_rows` takes). On PostgreSQL, when its company and brand exist, its job_id is new
    and it fits under the guard, in one statement (core/storage/one_record.py); otherwise, and on SQLite, as a batch
    of one. `prices`: the digest of the price overrides the record was priced with (PostgreSQL), checked in that
    statement: None returned, nothing written, when they changed since (price it again, without a digest)."""
    if not is_sqlite(session) and (row["cost_input"] + row["cost_output"]).scaleb(6) <= MAX_RECORD_COST_MICROS:
        got = one_record.STATEMENT.run(session, one_record.params(row, source, is_demo, prices))[0]
        written = dict(zip(one_record.RESULT, got))
        if not written["prices_current"]:
            return None
        if written["admitted"]:
            headroom.changed_elsewhere(session)
            return Outcome(inserted=1, written=written)
        if written["job"] is not None:  # the guard's totals refused it (or have no row yet): the batch path says why
            session.execute(text("DELETE FROM ai_jobs WHERE id = :id"), {"id": written["job"]})
    return write(session, from_rows([row]), source=source, is_demo=is_demo)
