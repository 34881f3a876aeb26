"""Test data for the analytics and page tests: a deterministic ledger around NOW, and the raw rows read back
from the database so that expected figures are computed independently, in plain Python, from the records."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from core.ingest.checks import validate_record
from core.ingest.record import ingest
from core.storage.db import get_session, session_scope
from core.storage.models import AIJob, AIJobUsage, Brand, Company

NOW = datetime(2025, 11, 20, 15, 30, tzinfo=UTC)  # a Thursday
MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("acme", "custom-1"),
]  # acme/custom-1 has no price anywhere: unpriced
BRANDS = [("Acme Corp", "Web"), ("Acme Corp", "Mobile"), ("Beta", "Main")]
OPERATIONS = ["chat-support", "document-summary", "translation"]


def call_record(job_id: str, created_at, **fields) -> dict:
    """The smallest valid record, one of Acme's completed gpt-4o-mini calls (10 tokens in, 2 out), for tests about
    where records go rather than what they hold; `fields` add to it or replace."""
    return {
        "job_id": job_id,
        "created_at": created_at,
        "company": "Acme",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "status": "completed",
        "input_tokens": 10,
        "output_tokens": 2,
        **fields,
    }


def month_records(now: datetime, n: int = 8) -> list[dict]:
    """n billed records between the first instant of `now`'s month and `now`: pages that show the month in progress
    (Costs, the quota alerts) have figures whatever the day, the first of the month included. The sixth is Beta's
    openai call of $1.50."""
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    out = []
    for i in range(n):
        provider, model = MODELS[i % len(MODELS)]
        company, brand = BRANDS[i % len(BRANDS)]
        rec = {
            "job_id": f"month-{i:02d}",
            "created_at": start + (now - start) * (i + 1) / (n + 1),
            "company": company,
            "brand": brand,
            "provider": provider,
            "model": model,
            "input_tokens": 1200 + i,
            "output_tokens": 300 + i,
            "execution_time_seconds": "1.5",
            "status": "completed",
            "operation": OPERATIONS[i % len(OPERATIONS)],
        }
        if provider != "acme":
            rec["cost_input"], rec["cost_output"] = "0.900000", "0.600000"
        out.append(rec)
    return out


def make_records(n: int = 90, seed: int = 7, days: int = 75, now: datetime = NOW) -> list[dict]:
    """n records over `days` days before NOW, plus boundary records at exactly NOW - 7 days, just before it,
    and at NOW. Most costs are billed (exact, chosen here); catalog-priced and unpriced calls are mixed in."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        provider, model = MODELS[i % len(MODELS)]
        company, brand = BRANDS[rng.randrange(len(BRANDS))]
        status = rng.choices(["completed", "failed", "timeout"], [8, 1, 1])[0]
        rec = {
            "job_id": f"job-{i:04d}",
            "created_at": now - timedelta(seconds=rng.randint(0, days * 86400)),
            "company": company,
            "brand": brand,
            "provider": provider,
            "model": model,
            "input_tokens": rng.randint(10, 5000),
            "output_tokens": rng.randint(5, 2000),
            "execution_time_seconds": str(Decimal(rng.randint(100, 60000)) / 1000),
            "status": status,
            "operation": rng.choice(OPERATIONS),
            "description": f"Task {i} <b>{model}</b>",
        }
        if provider != "acme" and i % 5 != 1:  # billed: exact cost given
            rec["cost_input"] = str(Decimal(rng.randint(0, 900_000)) / 1_000_000)
            rec["cost_output"] = str(Decimal(rng.randint(0, 2_000_000)) / 1_000_000)
        out.append(rec)
    for job_id, ts in (
        ("edge-start", now - timedelta(days=7)),
        ("edge-before", now - timedelta(days=7, microseconds=1)),
        ("edge-now", now),
    ):
        out.append(
            {
                "job_id": job_id,
                "created_at": ts,
                "company": "Acme Corp",
                "brand": "Web",
                "provider": "openai",
                "model": "gpt-4o",
                "input_tokens": 1000,
                "output_tokens": 100,
                "execution_time_seconds": "2.5",
                "status": "completed",
                "operation": "chat-support",
                "cost_input": "0.111111",
                "cost_output": "0.222222",
                "description": job_id,
            }
        )
    return out


def load(records: list[dict]) -> None:
    with session_scope() as s:
        ingest(s, [validate_record(r) for r in records])


@dataclass
class Row:
    id: int
    job_id: str
    created_at: datetime
    company: str
    brand: str
    brand_id: int
    provider: str
    model: str
    status: str
    operation: str
    tokens: int
    cost: Decimal
    execution_ms: int
    success_rate: float
    pricing_status: str
    description: str | None


def raw_rows(url: str | None = None) -> list[Row]:
    s = get_session(url)
    try:
        q = (
            select(AIJobUsage, AIJob, Brand, Company)
            .join(AIJob, AIJob.id == AIJobUsage.ai_job_id)
            .join(Brand, Brand.id == AIJob.brand_id)
            .join(Company, Company.id == AIJob.company_id)
        )
        return [
            Row(
                u.id,
                j.job_id,
                u.created_at,
                c.name,
                b.name,
                b.id,
                u.provider_name,
                u.model_name,
                j.status,
                j.operation,
                u.total_tokens,
                u.total_cost,
                u.execution_ms,
                u.success_rate,
                u.pricing_status,
                j.description,
            )
            for u, j, b, c in s.execute(q)
        ]
    finally:
        s.close()


def money(d: Decimal) -> str:
    return str(Decimal(d).quantize(Decimal("0.000001")))


def pct(part, whole) -> float:
    return round(float(Decimal(part) / Decimal(whole) * 100), 1) if whole else 0.0


def csum(rows) -> Decimal:
    return sum((r.cost for r in rows), Decimal(0))
