"""What the PostgreSQL server alone accepts: COPY of ready-made CSV rows into the ledger, no product code at all.

    python -m bench.copy_ceiling [--db aium_scale] [--rows 250000]

The ceiling that bulk ingest (validation, pricing, rollups, in Python) cannot pass on this machine. The rows
(one ai_jobs and one ai_job_usage row per record, random job ids as uuids give) are made by the server with
generate_series and held in memory as CSV, then COPYed by one connection, or by two at once (half each), each in
a transaction that is rolled back; the tables are vacuumed after each case, so the database stays as it was.
Cases: records spread over the last 120 days (a backfill) or over the last day (live), in time order or
shuffled; a first, uncounted run warms the caches. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import threading
import time

import psycopg

from bench.common import machine_busy

JOB_COLS = (
    "id, job_id, company_id, brand_id, job_type, status, operation, description, source, is_demo, "
    "request_id, fingerprint, created_at"
)
USAGE_COLS = (
    "ai_job_id, company_id, brand_id, job_status, operation, created_at, input_tokens, output_tokens, "
    "total_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost_input, cost_output, "
    "total_cost, pricing_status, execution_ms, memory_usage_mb, provider_name, model_name, "
    "success_rate, error_count, error_class"
)
# Ids far above the ledger's; the rows are never committed.
ROWS = """
SELECT 900000000000 + {offset} + g AS id, md5(g::text || '{tag}') AS key,
       now() - interval '{days} days' * (1 - g::float8 / {n}) AS at, g
FROM generate_series(1, {n}) g ORDER BY {order}
"""
JOBS = "SELECT id, key, 1, 1, 'chat', 'completed', 'chat', NULL, 'import', false, NULL, key, at FROM ({rows}) r"
USAGE = (
    "SELECT id, 1, 1, 'completed', 'chat', at, 1000, 200, 1200, 0, 0, 0, round((g % 997) / 1e5, 6), "
    "round((g % 991) / 1e5, 6), round((g % 997 + g % 991) / 1e5, 6), 'priced', 1200, 50, "
    "(ARRAY['openai','anthropic','gemini','mistral','ollama'])[1 + g % 5], 'gpt-4o', 1.0, 0, NULL "
    "FROM ({rows}) r"
)


def csv(dsn: str, query: str) -> bytes:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        out = bytearray()
        with cur.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)") as copy:
            for block in copy:
                out += block
        return bytes(out)


def load(dsn: str, jobs: bytes, usage: bytes) -> None:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY ai_jobs ({JOB_COLS}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(jobs)
        with cur.copy(f"COPY ai_job_usage ({USAGE_COLS}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(usage)
        conn.rollback()


def case(dsn: str, rows: int, days: int, streams: int, shuffled: bool, cpu: list | None = None) -> float:
    """Records/s of COPY; `cpu`, when given, gets the machine's busy CPU seconds during the COPY."""
    parts = []
    for i in range(streams):
        q = ROWS.format(
            offset=i * 10**9,
            tag=f"{time.time_ns()}-{i}",
            days=days,
            n=rows // streams,
            order="random()" if shuffled else "g",
        )
        parts.append((csv(dsn, JOBS.format(rows=q)), csv(dsn, USAGE.format(rows=q))))
    threads = [threading.Thread(target=load, args=(dsn, *p)) for p in parts]
    t, busy = time.perf_counter(), machine_busy()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    spent = time.perf_counter() - t
    if cpu is not None:
        cpu.append(machine_busy() - busy)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ai_jobs, ai_job_usage")
    return rows / spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="aium_scale")
    ap.add_argument("--rows", type=int, default=250_000)
    args = ap.parse_args()
    dsn = f"host=127.0.0.1 user=postgres dbname={args.db}"
    with psycopg.connect(dsn) as conn:
        ledger = conn.execute("SELECT count(*) FROM ai_job_usage").fetchone()[0]
    print(f"COPY of {args.rows:,} ready-made records into {args.db} ({ledger:,} records), server only")
    case(dsn, args.rows, 120, 1, False)  # warm-up: the indexes' pages into the caches, not counted
    print(f"{'records spread over':22} {'order':9} {'1 connection':>14} {'2 connections':>14}")
    for days in (120, 1):
        for shuffled in (False, True):
            one, two = (case(dsn, args.rows, days, n, shuffled) for n in (1, 2))
            print(
                f"{f'the last {days} day(s)':22} {'shuffled' if shuffled else 'by time':9} "
                f"{one:>12,.0f}/s {two:>12,.0f}/s"
            )


if __name__ == "__main__":
    main()
