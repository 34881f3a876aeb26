"""Ingest benchmark: bulk import (validation + pricing + rollup included) and single record_usage latency.

    python -m bench.ingest [--rows 1000000] [--only sqlite|postgresql]
"""
from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from bench.common import fresh_database, peak_rss_mb, raw_records
from core.importer import import_rows
from core.usage import record_usage


def bulk(kind: str, rows: int) -> tuple[float, int]:
    fresh_database(kind, f"aium_bench_ingest_{kind}")
    gen = ((i + 1, r, None) for i, r in enumerate(raw_records(rows)))
    t = time.perf_counter()
    result = import_rows(gen, now=datetime.now(UTC))
    elapsed = time.perf_counter() - t
    assert result.imported == rows, result.summary()
    return elapsed, result.imported


def single(kind: str, calls: int = 300) -> float:
    times = []
    now = datetime.now(UTC) - timedelta(minutes=1)
    for i in range(calls):
        t = time.perf_counter()
        record_usage(job_id=f"single-{kind}-{i}-{time.time_ns()}", created_at=now, company="Humari", brand="Humari",
                     provider_name="openai", model_name="gpt-4o-mini", input_tokens=1200, output_tokens=300,
                     execution_time_seconds=1.2, operation="chat-support")
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--only", choices=["sqlite", "postgresql"])
    args = ap.parse_args()
    print(f"{'database':<12} {'records':>10} {'seconds':>9} {'records/s':>11} {'record_usage median ms':>24}")
    for kind in ("postgresql", "sqlite"):
        if args.only and kind != args.only:
            continue
        elapsed, n = bulk(kind, args.rows)
        median = single(kind)
        print(f"{kind:<12} {n:>10,} {elapsed:>9.1f} {n / elapsed:>11,.0f} {median:>24.2f}")
    print(f"peak RSS of this process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
