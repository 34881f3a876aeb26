"""A batch's rows into ai_jobs and ai_job_usage, the two ways (see core/storage/writer.py): PostgreSQL COPYs in a
savepoint with ids taken up front, the unique index on job_id as the check; SQLite looks first, under its write lock.
A job_id already stored is counted in the Outcome as a duplicate or a conflict, never written again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import psycopg
import pyarrow as pa
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import InvalidRecord
from core.storage.columns import copy_arrow, money_array, pylist, take
from core.storage.db import is_sqlite, lock_for_write

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


LOOKUP_CHUNK = 5000  # SQLite: bound values per IN (...)
_SEQUENCES: dict = {}  # database URL -> the name of ai_jobs' id sequence


@dataclass
class Outcome:
    """What a write did: records written, duplicates, conflicts and refusals by position."""

    inserted: int = 0
    duplicates: int = 0
    conflicts: list[tuple[int, str]] = field(default_factory=list)  # (position, job_id)
    refused: list[tuple[int, InvalidRecord]] = field(default_factory=list)  # (position, why): the write guard's
    # `write_one` in one statement: the ids it gave (job, usage, company_id, brand_id) and the company's created_at
    written: dict | None = None


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


def drop_stored(c: dict, stored: dict[str, str], out: Outcome) -> dict | None:
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


def insert_pg(session: Session, c: dict, out: Outcome, source: str, is_demo: bool) -> dict | None:
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
            c = drop_stored(c, stored_fingerprints(session, pylist(c["job_id"])), out)
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


def measured_list(values: np.ndarray, measured: np.ndarray) -> list:
    """The values as a list, None (NULL) where not measured."""
    return [v if m else None for v, m in zip(values.tolist(), measured.tolist())]


def insert_sqlite(session: Session, c: dict, out: Outcome, source: str, is_demo: bool) -> dict | None:
    lock_for_write(session)
    c = drop_stored(c, stored_fingerprints(session, pylist(c["job_id"])), out)
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
        measured_list(c["execution_ms"], c["timed"]),
        measured_list(c["memory_usage_mb"], c["memory_measured"]),
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
