"""Ingest benchmark: bulk import (validation + pricing + rollup included) and single record_usage latency.
The median record_usage call is timed against the database the last bulk run filled.

    python -m bench.ingest [--rows 1000000] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from bench.common import fresh_database, peak_rss_mb, raw_records
from core.ingest.files import BATCH, import_file, import_rows
from core.ingest.frames import ingest_frames
from core.usage import record_usage


def bulk(kind: str, rows: int) -> tuple[float, float, float]:
    """Records/s of three bulk paths, each into a fresh database: `python -m core import` of a JSONL file
    (parsing included), an import of rows already parsed (what the OpenAI / LiteLLM converters feed), and
    frames handed over by an application. The records are made before the clock starts: this times the
    product, not the generator."""
    now = datetime.now(UTC)
    records = list(raw_records(rows))
    path = Path(tempfile.gettempdir()) / f"aium_bench_{kind}.jsonl"
    with open(path, "w") as fh:
        for r in records:
            fh.write(json.dumps(r | {"created_at": r["created_at"].isoformat()}) + "\n")
    rates = []
    for run in ("file", "rows", "frames"):
        fresh_database(kind, f"aium_bench_ingest_{kind}")
        t = time.perf_counter()
        if run == "file":
            stored = import_file(path, now=now).imported
        elif run == "rows":
            stored = import_rows(((i + 1, r, None) for i, r in enumerate(records)), now=now).imported
        else:
            frames = [(pd.DataFrame.from_records(records[i : i + BATCH]), None, i) for i in range(0, rows, BATCH)]
            t = time.perf_counter()
            stored = sum(res.inserted for _, res in ingest_frames(frames, now=now))
        rates.append(rows / (time.perf_counter() - t))
        assert stored == rows, (run, stored)
    path.unlink()
    return rates[0], rates[1], rates[2]


def single(kind: str, calls: int = 300, company: str = "Humari") -> float:
    """Median milliseconds of one record_usage call (its own transaction), over `calls` calls."""
    times = []
    now = datetime.now(UTC) - timedelta(minutes=1)
    for i in range(calls):
        t = time.perf_counter()
        record_usage(
            job_id=f"single-{kind}-{i}-{time.time_ns()}",
            created_at=now,
            company=company,
            brand="Humari",
            provider_name="openai",
            model_name="gpt-4o-mini",
            input_tokens=1200,
            output_tokens=300,
            execution_time_seconds=1.2,
            operation="chat-support",
        )
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--only", choices=["sqlite", "postgresql"])
    args = ap.parse_args()
    print(
        f"{'database':<12} {'records':>10} {'JSONL file/s':>13} {'parsed rows/s':>14} {'frames/s':>9} "
        f"{'record_usage median ms':>23}"
    )
    for kind in ("postgresql", "sqlite"):
        if args.only and kind != args.only:
            continue
        as_file, as_rows, as_frames = bulk(kind, args.rows)
        median = single(kind)
        print(f"{kind:<12} {args.rows:>10,} {as_file:>13,.0f} {as_rows:>14,.0f} {as_frames:>9,.0f} {median:>23.2f}")
    print(f"peak RSS of this process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
