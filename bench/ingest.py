"""Ingest benchmark: bulk import (validation + pricing + rollup included) and single record_usage latency.

    python -m bench.ingest [--rows 1000000] [--only sqlite|postgresql]
"""
from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

import pandas as pd

from bench.common import fresh_database, peak_rss_mb, raw_records
from core.columnar import ingest_frames
from core.importer import BATCH, import_rows
from core.usage import record_usage


def bulk(kind: str, rows: int) -> tuple[float, float]:
    """Records/s of a bulk import of parsed rows (as `python -m core import` feeds them), then of the same
    number of records handed over as frames (an application batching its records). The records are made
    before the clock starts: this times the product, not the generator."""
    now = datetime.now(UTC)
    records = list(raw_records(rows))
    fresh_database(kind, f"aium_bench_ingest_{kind}")
    t = time.perf_counter()
    result = import_rows(((i + 1, r, None) for i, r in enumerate(records)), now=now)
    as_rows = rows / (time.perf_counter() - t)
    assert result.imported == rows, result.summary()
    frames = [(pd.DataFrame.from_records(records[i:i + BATCH]), None, i) for i in range(0, rows, BATCH)]
    del records
    fresh_database(kind, f"aium_bench_ingest_{kind}")
    t = time.perf_counter()
    stored = sum(res.inserted for _, res in ingest_frames(frames, now=now))
    as_frames = rows / (time.perf_counter() - t)
    assert stored == rows
    return as_rows, as_frames


def single(kind: str, calls: int = 300, company: str = "Humari") -> float:
    """Median milliseconds of one record_usage call (its own transaction), over `calls` calls."""
    times = []
    now = datetime.now(UTC) - timedelta(minutes=1)
    for i in range(calls):
        t = time.perf_counter()
        record_usage(job_id=f"single-{kind}-{i}-{time.time_ns()}", created_at=now, company=company, brand="Humari",
                     provider_name="openai", model_name="gpt-4o-mini", input_tokens=1200, output_tokens=300,
                     execution_time_seconds=1.2, operation="chat-support")
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--only", choices=["sqlite", "postgresql"])
    args = ap.parse_args()
    print(f"{'database':<12} {'records':>10} {'import rows/s':>14} {'frame batches/s':>16} "
          f"{'record_usage median ms':>24}")
    for kind in ("postgresql", "sqlite"):
        if args.only and kind != args.only:
            continue
        as_rows, as_frames = bulk(kind, args.rows)
        median = single(kind)
        print(f"{kind:<12} {args.rows:>10,} {as_rows:>14,.0f} {as_frames:>16,.0f} {median:>24.2f}")
    print(f"peak RSS of this process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
