"""Fast writers for the ingest path: COPY on PostgreSQL, plain executemany on SQLite.

Both write jobs with ids chosen up front (a sequence batch on PostgreSQL; MAX(id) under the write lock on
SQLite), so no RETURNING round trip per row. If another writer stores one of the same job_ids between our
existence check and the COPY, the COPY fails on the unique index: the caller then falls back to the
row-by-row ON CONFLICT path for that chunk, which is always correct.
"""
from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from operator import itemgetter

from sqlalchemy import delete, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.storage.models import AIJob, AIJobUsage

JOB_COLS = ("id", "job_id", "company_id", "brand_id", "job_type", "status", "operation", "description",
            "source", "is_demo", "request_id", "fingerprint", "created_at")
USAGE_COLS = ("ai_job_id", "company_id", "brand_id", "job_status", "operation", "created_at", "input_tokens",
              "output_tokens", "total_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens",
              "cost_input", "cost_output", "total_cost", "pricing_status", "execution_ms", "memory_usage_mb",
              "provider_name", "model_name", "success_rate", "error_count", "error_class")
IN_BATCH = 5000


def existing_fingerprints(session: Session, job_ids: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    if session.get_bind().dialect.name != "sqlite":
        # One array parameter instead of thousands of bound values: far cheaper to send and plan.
        for i in range(0, len(job_ids), 50_000):
            out.update(session.execute(text("SELECT job_id, fingerprint FROM ai_jobs WHERE job_id = ANY(:ids)"),
                                       {"ids": job_ids[i:i + 50_000]}).all())
        return out
    for i in range(0, len(job_ids), IN_BATCH):
        part = job_ids[i:i + IN_BATCH]
        out.update(session.execute(select(AIJob.job_id, AIJob.fingerprint).where(AIJob.job_id.in_(part))).all())
    return out


def _dbapi(session: Session):
    return session.connection().connection.driver_connection


def _sqlite_ts(ts) -> str:
    ts = ts.astimezone(UTC)
    return f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d} {ts.hour:02d}:{ts.minute:02d}:{ts.second:02d}.{ts.microsecond:06d}"


def _micros(value: Decimal) -> int:
    return int(value.scaleb(6))


def lock_for_write(session: Session) -> None:
    """SQLite: take the write lock now (a no-op write), so the existence check and the insert are atomic."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("DELETE FROM job_locks WHERE 0"))


def insert_jobs(session: Session, jobs: list[dict]) -> dict[str, int] | None:
    """Insert new jobs (none of which exist yet); {job_id: id}, or None if a concurrent writer got in first."""
    if not jobs:
        return {}
    if session.get_bind().dialect.name == "sqlite":
        start = session.execute(text("SELECT COALESCE(MAX(id), 0) FROM ai_jobs")).scalar() + 1
        ids = range(start, start + len(jobs))
        rows = [(i, j["job_id"], j["company_id"], j["brand_id"], j["job_type"], j["status"], j["operation"],
                 j["description"], j["source"], 1 if j["is_demo"] else 0, j["request_id"], j["fingerprint"],
                 _sqlite_ts(j["created_at"])) for i, j in zip(ids, jobs)]
        _dbapi(session).executemany(
            f"INSERT INTO ai_jobs ({', '.join(JOB_COLS)}) VALUES ({', '.join('?' * len(JOB_COLS))})", rows)
        return {j["job_id"]: i for i, j in zip(ids, jobs)}
    ids = session.execute(
        text("SELECT nextval(pg_get_serial_sequence('ai_jobs', 'id')) FROM generate_series(1, :n)"),
        {"n": len(jobs)}).scalars().all()  # fetched at once, not a row at a time
    try:
        with session.begin_nested():
            cur = _dbapi(session).cursor()
            with cur.copy(f"COPY ai_jobs ({', '.join(JOB_COLS)}) FROM STDIN") as copy:
                for i, j in zip(ids, jobs):
                    copy.write_row((i, j["job_id"], j["company_id"], j["brand_id"], j["job_type"], j["status"],
                                    j["operation"], j["description"], j["source"], j["is_demo"],
                                    j["request_id"], j["fingerprint"], j["created_at"]))
    except IntegrityError:
        return None
    return {j["job_id"]: i for i, j in zip(ids, jobs)}


def insert_usage(session: Session, rows: list[dict]) -> None:
    if not rows:
        return
    if session.get_bind().dialect.name == "sqlite":
        values = [(r["ai_job_id"], r["company_id"], r["brand_id"], r["job_status"], r["operation"],
                   _sqlite_ts(r["created_at"]), r["input_tokens"], r["output_tokens"], r["total_tokens"],
                   r["cached_tokens"], r["cache_write_tokens"], r["reasoning_tokens"], _micros(r["cost_input"]),
                   _micros(r["cost_output"]), _micros(r["total_cost"]), r["pricing_status"], r["execution_ms"],
                   r["memory_usage_mb"], r["provider_name"], r["model_name"], r["success_rate"],
                   r["error_count"], r["error_class"]) for r in rows]
        _dbapi(session).executemany(
            f"INSERT INTO ai_job_usage ({', '.join(USAGE_COLS)}) VALUES ({', '.join('?' * len(USAGE_COLS))})",
            values)
        return
    cur = _dbapi(session).cursor()
    row_of = itemgetter(*USAGE_COLS)
    with cur.copy(f"COPY ai_job_usage ({', '.join(USAGE_COLS)}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row(row_of(r))


def remove_jobs(session: Session, job_ids: list[str]) -> list[dict]:
    """Delete jobs this transaction wrote (and their usage rows) before their rollups were added, as when the
    write guard refuses them; returns the usage rows (AIJobUsage column names, with job_id), for the caller to
    take their rollup additions back."""
    usage = AIJobUsage.__table__
    removed: list[dict] = []
    for i in range(0, len(job_ids), IN_BATCH):
        part = job_ids[i:i + IN_BATCH]
        rows = session.execute(select(usage, AIJob.job_id).join(AIJob, AIJob.id == usage.c.ai_job_id)
                               .where(AIJob.job_id.in_(part))).mappings().all()
        ids = [r["ai_job_id"] for r in rows]
        session.execute(delete(AIJobUsage).where(AIJobUsage.ai_job_id.in_(ids)))
        session.execute(delete(AIJob).where(AIJob.id.in_(ids)))
        removed.extend(dict(r) for r in rows)
    return removed
