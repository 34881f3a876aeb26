"""Writes at the machine's limit: bulk ingest next to what the server accepts by COPY, in the same run, and the
latency of one `record_usage` call.

    python -m bench.writes [--db aium_scale] [--rows 500000] [--chunk 50000] [--runs 3] [--calls 300] [--no-bulk]

On a generated PostgreSQL ledger (`python -m bench.generate --db NAME` first), for a backfill (records spread over
the last 120 days) and live traffic (the last day):
- the COPY ceiling: bench.copy_ceiling's ready-made rows, time-ordered, COPYed by the server alone over one
  connection and over two (rolled back);
- bulk ingest of as many records through `core.ingest.frames.ingest_frames` (validation, pricing, the write guard
  and the rollups included) from frames made beforehand, into a company of its own, removed afterwards;
- their ratio (ingest / COPY over two connections, the product's own number of batches in flight);
then the median of --calls `record_usage` calls into the same ledger (wall time, and this process's CPU time), next to
the least any durable write costs on this server: a one-row upsert and its COMMIT by the driver alone (the COMMIT
waits for the WAL to reach the disk). Medians of --runs; the load average is printed beside the figures (a shared
machine). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import create_engine, text

from bench import copy_ceiling
from bench.common import PG_ADMIN

COMPANY = "Bench Writes"


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def remove_company(url: str) -> None:
    """Delete the bench company's records and rollup rows, keep the write guard's totals in step, VACUUM."""
    from core.storage import headroom
    from core.storage.db import session_scope

    engine = create_engine(url)
    with engine.begin() as c:
        cid = c.scalar(text("SELECT id FROM companies WHERE name = :n"), {"n": COMPANY})
        if cid is not None:
            c.execute(
                text("DELETE FROM ai_jobs WHERE id IN (SELECT ai_job_id FROM ai_job_usage WHERE company_id = :c)"),
                {"c": cid},
            )
            c.execute(text("DELETE FROM ai_job_usage WHERE company_id = :c"), {"c": cid})
            for table in ("usage_daily", "usage_daily_model", "usage_daily_scope", "usage_hourly"):
                c.execute(text(f"DELETE FROM {table} WHERE company_id = :c"), {"c": cid})
            c.execute(text("DELETE FROM companies WHERE id = :c"), {"c": cid})
    recount = getattr(headroom, "recount", None)  # None: code from before the totals row (a baseline run)
    if cid is not None and recount is not None:
        with session_scope() as s:
            recount(s)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(
            text(
                "VACUUM ANALYZE ai_jobs, ai_job_usage, usage_daily, usage_daily_model, usage_daily_scope, usage_hourly"
            )
        )
    engine.dispose()


def ingest(url: str, rows: int, days: int, chunk: int, tag: str) -> float:
    """Records/s of `ingest_frames` over frames made before the clock starts (as the COPY's rows are)."""
    from bench.generate import frames, ingest_frames

    remove_company(url)
    now = datetime.now(UTC)
    made = list(
        frames(
            rows,
            days,
            int(now.timestamp()),
            now - timedelta(minutes=2),
            chunk,
            f"writes-{tag}-{now:%Y%m%d%H%M%S%f}-",
            company=COMPANY,
        )
    )
    stored, spent = ingest_frames(made, now)
    assert stored == rows, stored
    return stored / spent


def record_usage_ms(calls: int) -> tuple[float, float]:
    """Median wall and CPU (this process) milliseconds of one record_usage call, its own transaction."""
    from core.usage import record_usage

    now = datetime.now(UTC) - timedelta(minutes=1)
    wall, cpu = [], []
    for i in range(calls + 20):  # the first calls create the company and prepare the statements: not counted
        t, c = time.perf_counter(), time.process_time()
        record_usage(
            job_id=f"writes-one-{i}-{time.time_ns()}",
            created_at=now,
            company=COMPANY,
            brand="Bench",
            provider_name="openai",
            model_name="gpt-4o-mini",
            input_tokens=1200,
            output_tokens=300,
            execution_time_seconds=1.2,
            operation="chat-support",
        )
        if i >= 20:
            wall.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def commit_floor_ms(dsn: str, calls: int) -> float:
    """Median milliseconds of the least a durable write costs here: a one-row upsert and its COMMIT (the WAL
    flushed to disk), by the driver alone, no product code."""
    times = []
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_commit_floor (id int PRIMARY KEY, n bigint)")
        conn.commit()
        for i in range(calls):
            t = time.perf_counter()
            conn.execute("INSERT INTO bench_commit_floor VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET n = %s", (i, i))
            conn.commit()
            times.append((time.perf_counter() - t) * 1000)
        conn.execute("DROP TABLE bench_commit_floor")
        conn.commit()
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="aium_scale")
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--chunk", type=int, default=50_000, help="records per frame (one transaction each)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--no-bulk", action="store_true", help="record_usage only")
    args = ap.parse_args()
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + args.db
    os.environ["DATABASE_URL"] = url
    from core import config
    from core.storage.db import dispose_engines, migrate

    config.reset_settings()
    dispose_engines()
    migrate(url)
    dsn = f"host=127.0.0.1 user=postgres dbname={args.db}"
    with create_engine(url).connect() as c:
        ledger = c.scalar(text("SELECT count(*) FROM ai_job_usage"))
    print(
        f"{args.db}: {ledger:,} records; {args.rows:,} records per case, frames of {args.chunk:,}, "
        f"medians of {args.runs}; load average at start {load()}"
    )
    if not args.no_bulk:
        copy_ceiling.case(dsn, args.rows, 120, 1, False)  # warm-up, not counted
        print(
            f"{'records spread over':22} {'COPY 1 conn':>12} {'COPY 2 conn':>12} {'ingest':>10} {'ratio':>6}  "
            f"load average"
        )
    for days, tag in () if args.no_bulk else ((120, "backfill"), (1, "live")):
        one, two, product = [], [], []
        for run in range(args.runs):
            one.append(copy_ceiling.case(dsn, args.rows, days, 1, False))
            two.append(copy_ceiling.case(dsn, args.rows, days, 2, False))
            product.append(ingest(url, args.rows, days, args.chunk, f"{tag}{run}"))
        m1, m2, mp = (statistics.median(v) for v in (one, two, product))
        print(f"{f'the last {days} day(s)':22} {m1:>10,.0f}/s {m2:>10,.0f}/s {mp:>8,.0f}/s {mp / m2:>6.2f}  {load()}")
    remove_company(url)
    floor = commit_floor_ms(dsn, args.calls)
    ms, cpu = record_usage_ms(args.calls)
    print(
        f"record_usage: median {ms:.2f} ms over {args.calls} calls (of which this process's CPU {cpu:.2f} ms); "
        f"a one-row upsert and COMMIT by the driver alone: {floor:.2f} ms; load average {load()}"
    )
    remove_company(url)


if __name__ == "__main__":
    main()
