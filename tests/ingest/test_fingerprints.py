"""The column checks' fingerprints (hashed from Arrow buffers, a batch at a time) are byte for byte those of the
scalar validator (UsageRecord.compute_fingerprint): a replay of a record through either path is a duplicate, never
a conflict. Random records with non-ASCII text, NULL (missing) values and large decimal costs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pandas as pd

from core.ingest.checks import validate_record
from core.ingest.column_checks import check_frame

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
WORDS = ["chat", "résumé", "日本語", "emoji 🚀", "naïve café", "Ωmega", "plain"]


def _record(rng: random.Random, i: int) -> dict:
    at = NOW - timedelta(seconds=rng.randrange(86400 * 30), microseconds=rng.choice([0, rng.randrange(1_000_000)]))
    rec = {
        "job_id": f"job-{i}-{rng.choice(WORDS)}",
        "created_at": at.isoformat(),
        "company": rng.choice(["Acme", "Société Générale", "株式会社"]),
        "brand": rng.choice(["b1", "Brand ü"]),
        "provider": rng.choice(["openai", "anthropic"]),
        "model": rng.choice(["gpt-4o", "claude-3-5-sonnet", "modèle-ß"]),
        "operation": rng.choice(WORDS),
        "status": rng.choice(["completed", "failed"]),
        "input_tokens": rng.randrange(10**9),
        "output_tokens": rng.randrange(10**6),
        "description": rng.choice([None, "", *WORDS]),
        "execution_time_seconds": rng.choice([None, 0, 1.25, rng.randrange(100_000) / 1000]),
        "memory_usage_mb": rng.choice([None, 0, rng.randrange(10**6)]),
        "cost_input": rng.choice([None, "0", "0.000001", "0.0100", "999999.999999", "123456.5"]),
        "cost_output": rng.choice([None, "0", "1E-6", "0.000100"]),
    }
    if rng.random() < 0.5:
        rec["cached_tokens"] = rng.randrange(rec["input_tokens"] + 1) // 2
        rec["reasoning_tokens"] = rng.randrange(rec["output_tokens"] + 1)
    return rec


def test_column_fingerprints_equal_the_scalar_ones_byte_for_byte():
    rng = random.Random(20261130)
    records = [_record(rng, i) for i in range(3000)]
    cols, bad = check_frame(pd.DataFrame.from_records(records), NOW)
    columnar = cols["fingerprint"].to_pylist()
    checked = 0
    for i, rec in enumerate(records):
        if bad[i]:  # judged again by the scalar path, which fingerprints it
            continue
        assert columnar[i] == validate_record(rec, now=NOW).fingerprint, rec
        checked += 1
    assert checked > 2000  # most rows went the columnar way: the comparison covers it
    # Not a constant: rows differing in one field only differ in their fingerprints.
    assert len({columnar[i] for i in range(len(records)) if not bad[i]}) == checked


def test_one_micro_dollar_more_is_another_fingerprint():
    base = _record(random.Random(1), 0) | {"cost_input": "0.0100", "cost_output": None}
    cols, bad = check_frame(pd.DataFrame.from_records([base, base | {"cost_input": "0.010001"}]), NOW)
    assert not bad.any()
    a, b = cols["fingerprint"].to_pylist()
    assert len(a) == len(b) == 64 and a != b
