"""Generate a large, realistic ledger in a database of its own, through the product's bulk ingest.

    python -m bench.generate --rows 10000000 [--db aium_scale] [--kind postgresql|sqlite] [--days 120]
                             [--chunk 200000] [--seed 7]

The database (PostgreSQL, or with --kind sqlite the file /tmp/NAME.db) is dropped and recreated (migrated), then
filled with `--rows` records over the last `--days` days,
oldest first (as a ledger grows): five companies of different sizes and their brands, the five providers with
real model names (plus a fine-tune nobody prices), business hours and a weekday/weekend rhythm, growth over the
period, failures and timeouts, lognormal token counts per operation, cached / cache-write / reasoning tokens, a
few costs billed by the provider. Records are built with numpy, 200,000 at a time, as a pandas frame with the
import fields, and the frames go through `core.ingest.frames.ingest_frames`, one transaction each (validation, pricing
and rollup included). Budgets and quotas are set from the generated spend so that the alert rules have work.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text

from bench.common import COMPANIES, MODELS, fresh_database
from core.ingest import frames as columnar
from core.ingest.checks import IMPORT_FIELDS
from core.storage.db import session_scope

DEFAULT_DB = "aium_scale"
# A fine-tune without a catalog price: the unpriced paths of every view have something to show.
ALL_MODELS = MODELS + [("openai", "ft:gpt-4o-mini:acme:support:gen01", 1)]
COMPANY_SHARE = [0.38, 0.24, 0.18, 0.12, 0.08]
# Each company uses its own models and operations (in the order of bench.common.COMPANIES): {name: weight}.
COMPANY_MODELS = [
    {
        "gpt-4o": 30,
        "gpt-4o-mini": 30,
        "o3-mini": 6,
        "claude-3-5-sonnet-20241022": 14,
        "claude-3-5-haiku-20241022": 8,
        "gemini-2.0-flash": 6,
        "ft:gpt-4o-mini:acme:support:gen01": 3,
    },
    {"gpt-4o-mini": 35, "llama3.1:8b": 25, "gemini-2.0-flash": 25, "mistral-small-latest": 15},
    {"mistral-large-latest": 25, "mistral-small-latest": 35, "claude-3-5-haiku-20241022": 20, "gpt-4o-mini": 20},
    {"gpt-4o": 35, "gpt-4o-mini": 35, "claude-3-5-sonnet-20241022": 20, "gemini-2.0-flash": 10},
    {
        "gpt-4o-mini": 30,
        "claude-3-5-haiku-20241022": 20,
        "claude-3-5-sonnet-20241022": 15,
        "o3-mini": 10,
        "mistral-large-latest": 15,
        "llama3.1:8b": 10,
    },
]
COMPANY_OPERATIONS = [
    {"chat-support": 40, "document-summary": 25, "translation": 15, "code-review": 20},
    {"kb-quality-analysis-short": 60, "document-summary": 30, "translation": 10},
    {"chat-support": 50, "code-review": 20, "document-summary": 30},
    {"chat-support": 40, "document-summary": 30, "code-review": 15, "translation": 15},
    {"document-summary": 45, "chat-support": 35, "kb-quality-analysis-short": 20},
]
# (operation, job_type, mean input tokens, mean output tokens, description of a described call)
OPERATIONS = [
    ("chat-support", "chat_completion", 900, 250, "Customer ticket answer"),
    ("kb-quality-analysis-short", "chat_completion", 500, 200, "Short KB article quality check"),
    ("document-summary", "summarization", 6000, 700, "Document summary"),
    ("translation", "translation", 1200, 1100, "FR to EN translation"),
    ("code-review", "chat_completion", 3500, 600, "Pull request review"),
]
# Seconds per call at the operation's mean output, failure and timeout rates, share of calls with cache reads.
MODEL_TRAITS = {
    "gpt-4o": (3.6, 0.015, 0.003, 0.3),
    "gpt-4o-mini": (1.8, 0.01, 0.002, 0.4),
    "o3-mini": (9.0, 0.02, 0.01, 0.2),
    "claude-3-5-sonnet-20241022": (4.3, 0.02, 0.004, 0.5),
    "claude-3-5-haiku-20241022": (2.1, 0.015, 0.003, 0.3),
    "gemini-2.0-flash": (1.4, 0.03, 0.004, 0.0),
    "mistral-large-latest": (4.1, 0.025, 0.005, 0.0),
    "mistral-small-latest": (1.6, 0.02, 0.003, 0.0),
    "llama3.1:8b": (12.0, 0.01, 0.03, 0.0),
    "ft:gpt-4o-mini:acme:support:gen01": (2.0, 0.01, 0.002, 0.0),
}
# UTC hour of day -> relative traffic (European and American business hours overlap in the afternoon).
HOUR_PROFILE = np.array(
    [
        0.15,
        0.1,
        0.08,
        0.08,
        0.1,
        0.2,
        0.4,
        0.7,
        1.0,
        1.1,
        1.15,
        1.1,
        1.0,
        1.1,
        1.2,
        1.2,
        1.1,
        0.95,
        0.75,
        0.55,
        0.45,
        0.35,
        0.25,
        0.2,
    ]
)
WEEKEND = 0.3
BILLED_SHARE = 0.005


class Timeline:
    """How many records fall in each hour of [end - days, end): business hours, weekends, growth."""

    def __init__(self, rows: int, days: int, end: datetime, seed: int):
        end_ns = pd.Timestamp(end).value
        start_ns = end_ns - days * 86_400 * 10**9
        first_hour = start_ns - start_ns % (3600 * 10**9)
        self.starts = np.arange(first_hour, end_ns, 3600 * 10**9, dtype=np.int64)
        self.length = np.minimum(self.starts + 3600 * 10**9, end_ns) - np.maximum(self.starts, start_ns)
        self.starts = np.maximum(self.starts, start_ns)
        stamps = pd.to_datetime(self.starts, utc=True)
        weight = HOUR_PROFILE[stamps.hour.to_numpy()] * np.where(stamps.day_of_week.to_numpy() >= 5, WEEKEND, 1.0)
        weight = weight * np.linspace(0.7, 1.3, len(weight)) * self.length / (3600 * 10**9)
        counts = np.random.default_rng(seed).multinomial(rows, weight / weight.sum())
        self.cum = np.cumsum(counts)

    def stamps(self, rng: np.random.Generator, positions: np.ndarray) -> np.ndarray:
        """Sorted nanosecond timestamps of the records at these positions (0 = oldest)."""
        hour = np.searchsorted(self.cum, positions, side="right")
        ns = self.starts[hour] + (rng.random(len(positions)) * self.length[hour]).astype(np.int64)
        ns.sort()
        return ns


def _pick(rng: np.random.Generator, group: np.ndarray, weights: list[list[float]]) -> np.ndarray:
    """One index per row, drawn from its group's weights (inverse CDF, vectorised)."""
    w = np.array(weights, dtype=float)
    cdf = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
    idx = (rng.random(len(group))[:, None] > cdf[group]).sum(axis=1)
    return np.minimum(idx, w.shape[1] - 1)


def frame(
    rng: np.random.Generator, timeline: Timeline, first: int, n: int, prefix: str, company: str | None = None
) -> pd.DataFrame:
    """n records (positions first .. first+n-1 of the timeline) as a frame of the import fields."""
    positions = np.arange(first, first + n)
    comp = rng.choice(len(COMPANIES), n, p=COMPANY_SHARE)
    n_brands = np.array([len(b) for _, b in COMPANIES])
    brand_idx = rng.integers(0, n_brands[comp])
    brand_table = np.array([[b[i % len(b)] for i in range(n_brands.max())] for _, b in COMPANIES], dtype=object)
    model = _pick(rng, comp, [[w.get(m, 0) for _, m, _ in ALL_MODELS] for w in COMPANY_MODELS])
    providers = np.array([p for p, _, _ in ALL_MODELS], dtype=object)
    models = np.array([m for _, m, _ in ALL_MODELS], dtype=object)
    traits = np.array([MODEL_TRAITS[m] for _, m, _ in ALL_MODELS])
    op = _pick(rng, comp, [[w.get(o[0], 0) for o in OPERATIONS] for w in COMPANY_OPERATIONS])
    mean_in = np.array([o[2] for o in OPERATIONS], dtype=float)[op]
    mean_out = np.array([o[3] for o in OPERATIONS], dtype=float)[op]

    u = rng.random(n)
    fail_p, timeout_p = traits[model, 1], traits[model, 2]
    status = np.where(u < fail_p, "failed", np.where(u < fail_p + timeout_p, "timeout", "completed")).astype(object)
    ok = status == "completed"

    sigma = 0.8
    inp = (rng.lognormal(np.log(mean_in) - sigma**2 / 2, sigma) + 1).astype(np.int64)
    out = (rng.lognormal(np.log(mean_out) - sigma**2 / 2, sigma) + 1).astype(np.int64)
    out = np.where(ok, out, 0)
    reasoning = np.where((models[model] == "o3-mini") & ok, (out * rng.uniform(0.3, 0.8, n)).astype(np.int64), 0)
    out = out + reasoning * 2  # reasoning models write more than they show; reasoning stays within output
    cached = np.where(rng.random(n) < traits[model, 3], (inp * rng.uniform(0.2, 0.9, n)).astype(np.int64), 0)
    cache_write = np.where(
        (providers[model] == "anthropic") & (rng.random(n) < 0.1),
        ((inp - cached) * rng.uniform(0, 0.5, n)).astype(np.int64),
        0,
    )

    speed = traits[model, 0] * np.sqrt(np.maximum(out, 1) / mean_out) * rng.lognormal(0, 0.25, n)
    seconds = np.where(status == "timeout", 60.0, np.where(ok, speed, speed * 0.2))
    seconds = np.round(seconds + 0.05, 3)
    memory = np.where(providers[model] == "ollama", rng.integers(900, 2400, n), rng.integers(16, 160, n))
    errors = np.where(ok, (rng.random(n) < 0.02).astype(np.int64), rng.integers(1, 4, n))

    descriptions = np.array([o[4] for o in OPERATIONS], dtype=object)[op]
    description = np.where(rng.random(n) < 0.05, descriptions, None)
    billed = rng.random(n) < BILLED_SHARE
    cost_in = np.full(n, None, dtype=object)
    cost_out = np.full(n, None, dtype=object)
    if billed.any():
        # A bill's own figures: about the catalog price of a mid-range model.
        cost_in[billed] = [f"{v:.6f}" for v in inp[billed] * 2.5e-6]
        cost_out[billed] = [f"{v:.6f}" for v in out[billed] * 1.0e-5]

    names = np.array([c for c, _ in COMPANIES], dtype=object)
    df = pd.DataFrame(
        {
            "job_id": prefix + pd.Series(positions).astype(str),
            "created_at": pd.to_datetime(timeline.stamps(rng, positions), utc=True),
            "company": names[comp] if company is None else np.full(n, company, dtype=object),
            "brand": brand_table[comp, brand_idx],
            "provider": providers[model],
            "model": models[model],
            "job_type": np.array([o[1] for o in OPERATIONS], dtype=object)[op],
            "status": status,
            "input_tokens": inp,
            "output_tokens": out,
            "cached_tokens": cached,
            "cache_write_tokens": cache_write,
            "reasoning_tokens": reasoning,
            "execution_time_seconds": seconds,
            "memory_usage_mb": memory.astype(np.int64),
            "error_count": errors.astype(np.int64),
            "operation": np.array([o[0] for o in OPERATIONS], dtype=object)[op],
            "description": description,
            "cost_input": cost_in,
            "cost_output": cost_out,
        }
    )
    return df[list(IMPORT_FIELDS)]


def ingest_frames(frames, now: datetime, progress: str = "") -> tuple[int, float]:
    """Feed the frames to the product's columnar pipeline (`core.ingest.frames.ingest_frames`: one transaction each,
    two in flight on PostgreSQL); returns (records stored, seconds). The frames are made inside the timed
    loop, as the pipeline pulls them: generating costs less than a tenth of ingesting."""
    stored, t = 0, time.perf_counter()
    for _, res in columnar.ingest_frames(((df, None, None) for df in frames), source="import", now=now):
        if res.duplicates or res.conflicts or res.refused:
            raise RuntimeError(
                f"unexpected: {res.duplicates} duplicates, {len(res.conflicts)} conflicts, "
                f"{len(res.refused)} refused {res.refused[:3]}"
            )
        stored += res.inserted
        if progress:
            spent = time.perf_counter() - t
            print(f"  {progress}{stored:,} records, {stored / spent:,.0f}/s in ingest", end="\r", flush=True)
    if progress:
        print()
    return stored, time.perf_counter() - t


def frames(rows: int, days: int, seed: int, end: datetime, chunk: int, prefix: str, company: str | None = None):
    timeline = Timeline(rows, days, end, seed)
    for i, first in enumerate(range(0, rows, chunk)):
        yield frame(np.random.default_rng([seed, i]), timeline, first, min(chunk, rows - first), prefix, company)


def set_limits() -> None:
    """Budgets and quotas from this month's spend: one company near its budget, one over a quota, others fine."""
    from sqlalchemy import select

    from core.limits.budgets import set_budget, set_quota
    from core.queries.aggregate import aggregate
    from core.storage.models import Company

    now = datetime.now(UTC)
    m0 = datetime(now.year, now.month, 1, tzinfo=UTC)
    with session_scope() as s:
        df = aggregate(s, start=m0, end=now, dims=["company_id"])
        names = dict(s.execute(select(Company.id, Company.name)).all())
    spent = {names[int(r.company_id)]: Decimal(r.total_cost) for r in df.itertuples()}
    factors = {"Humari": Decimal("1.15"), "Qadhya": Decimal(3), "Northwind Labs": Decimal("0.9")}
    for company, factor in factors.items():
        set_budget(company, max(Decimal(10), (spent.get(company, 0) * factor).quantize(Decimal(1))))
    set_budget("Globex", "100000")
    set_quota("Humari", "openai", monthly_usd=max(Decimal(10), (spent.get("Humari", 0) / 2).quantize(Decimal(1))))
    set_quota("Initech", "anthropic", monthly_tokens=10**12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument(
        "--db", default=DEFAULT_DB, help="database to (re)create (default aium_scale; on SQLite the file /tmp/NAME.db)"
    )
    ap.add_argument(
        "--kind",
        choices=("postgresql", "sqlite"),
        default="postgresql",
        help="PostgreSQL (default) or the embedded SQLite",
    )
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--chunk", type=int, default=200_000, help="records per frame and transaction")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    url = fresh_database(args.kind, args.db)
    print(f"database {args.db} recreated; generating {args.rows:,} records over {args.days} days")
    now = datetime.now(UTC)
    end = now - timedelta(minutes=2)
    t0 = time.perf_counter()
    stored, spent = ingest_frames(
        frames(args.rows, args.days, args.seed, end, args.chunk, f"gen{args.seed}-"), now, progress="loaded "
    )
    wall = time.perf_counter() - t0
    set_limits()
    t = time.perf_counter()
    eng = create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:  # visibility map and statistics, as autovacuum leaves them after a load
        if args.kind == "sqlite":
            c.execute(text("ANALYZE"))
            size = f"{Path(url.removeprefix('sqlite:///')).stat().st_size / 2**20:,.0f} MB"
        else:
            c.execute(text("VACUUM ANALYZE"))
            size = c.scalar(text("SELECT pg_size_pretty(pg_database_size(current_database()))"))
    eng.dispose()
    print(
        f"{stored:,} records in {wall:.0f} s: {stored / wall:,.0f} records/s overall "
        f"(generation included), {stored / spent:,.0f} records/s in ingest_frame; "
        f"VACUUM ANALYZE {time.perf_counter() - t:.0f} s; database size {size}"
    )


if __name__ == "__main__":
    main()
