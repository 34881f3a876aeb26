"""Deterministic demo data: several companies and brands, five providers with real model names, 120 days,
weekday/weekend rhythm, failure bursts, one cost spike, one slow model and one unpriced model, so that every
view and every alert rule has something to show. Every row is marked as demo (`ai_jobs.is_demo`).

It also writes an OpenAI bill, as `python -m core sync openai` keeps it in `provider_costs` (one line per day,
project, model snapshot and input/output), for every company's priced OpenAI calls: within ±1 % of our estimate
on most days, and off by more than the reconciliation's 5 % tolerance on a few (BILL_GAPS), so that the Costs
page's reconciliation has something to show. Those lines carry a `proj_demo_` project id, which is how they are
told apart from a real bill when the demo is cleared.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Date, delete, exists, func, select, type_coerce
from sqlalchemy.orm import Session

from core.ingest.checks import UsageRecord
from core.ingest.record import ingest
from core.limits.budgets import set_budget, set_quota
from core.pricing.catalog import Pricer
from core.storage import rollups as rollup
from core.storage.db import session_scope
from core.storage.models import AIJob, AIJobUsage, Company, ProviderCost, WorkerState
from core.storage.rollup_rebuild import rebuild
from core.storage.types import to_money

DEMO_FLAG = "demo_data"
BILL_PROJECT_PREFIX = "proj_demo_"
# The Costs API names model snapshots in its line items ("gpt-4o-2024-08-06, input").
BILL_SNAPSHOTS = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "o3-mini": "o3-mini-2025-01-31",
}
# Days back from today on which the bill for gpt-4o differs from our estimate by this factor: calls that were never
# tracked (x1.25, x1.30) and a credit (x0.85). gpt-4o is most of the OpenAI spend, so the whole day is over 5 %.
BILL_GAPS = {2: Decimal("1.25"), 8: Decimal("0.85"), 19: Decimal("1.30")}
BILL_GAP_MODEL = "gpt-4o"
BILL_NOISE_BP = 100  # ordinary days: the bill within ±1 % (100 basis points) of the estimate


@dataclass(frozen=True)
class Model:
    provider: str
    name: str
    avg_seconds: float
    reasoning: bool = False
    cache_share: float = 0.0


MODELS = {
    "gpt-4o": Model("openai", "gpt-4o", 3.6, cache_share=0.3),
    "gpt-4o-mini": Model("openai", "gpt-4o-mini", 1.8, cache_share=0.4),
    "o3-mini": Model("openai", "o3-mini", 9.0, reasoning=True),
    "ft-support": Model("openai", "ft:gpt-4o-mini:humari:support:demo01", 2.0),  # fine-tune: unpriced
    "sonnet": Model("anthropic", "claude-3-5-sonnet-20241022", 4.3, cache_share=0.5),
    "haiku": Model("anthropic", "claude-3-5-haiku-20241022", 2.1, cache_share=0.3),
    "flash": Model("gemini", "gemini-2.0-flash", 1.4),
    "gemini-pro": Model("gemini", "gemini-1.5-pro", 5.2),
    "mistral-large": Model("mistral", "mistral-large-latest", 4.1),
    "mistral-small": Model("mistral", "mistral-small-latest", 1.6),
    "llama": Model("ollama", "llama3.1:8b", 38.0),  # the slow one: a local model on a small GPU
    "qwen": Model("ollama", "qwen2.5:7b", 7.5),
}

# (operation, job_type, mean input tokens, mean output tokens, description)
OPERATIONS = [
    ("chat-support", "chat_completion", 900, 250, "Réponse au ticket client"),
    ("kb-quality-analysis-short", "chat_completion", 500, 200, "Analyse qualité fiche KB courte"),
    ("document-summary", "summarization", 6000, 700, "Résumé de document"),
    ("translation", "translation", 1200, 1100, "Traduction FR→EN"),
    ("code-review", "chat_completion", 3500, 600, "Revue de pull request"),
]

# company -> brands, jobs per weekday, {model key: weight}, {operation: weight}
COMPANIES = {
    "Humari": (
        ["Humari", "Academy"],
        140,
        {"gpt-4o": 30, "gpt-4o-mini": 30, "o3-mini": 6, "ft-support": 6, "sonnet": 14, "haiku": 8, "flash": 6},
        {"chat-support": 40, "document-summary": 25, "translation": 15, "code-review": 20},
    ),
    "Qadhya": (
        ["Qadhya"],
        70,
        {"gpt-4o-mini": 35, "llama": 30, "qwen": 10, "flash": 15, "gemini-pro": 10},
        {"kb-quality-analysis-short": 60, "document-summary": 30, "translation": 10},
    ),
    "Northwind Labs": (
        ["Support", "Search"],
        90,
        {"mistral-large": 25, "mistral-small": 35, "haiku": 20, "gpt-4o-mini": 20},
        {"chat-support": 50, "code-review": 20, "document-summary": 30},
    ),
}
OP_INDEX = {op[0]: op for op in OPERATIONS}


def generate(seed: int = 42, days: int = 120, now: datetime | None = None):
    """Yield demo UsageRecords, oldest first, none later than `now`."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rng = random.Random(seed)
    first_day = (now - timedelta(days=days - 1)).date()
    spike_day = days - 6  # a cost spike six days ago
    bursts = {days - 40: "anthropic", days - 39: "anthropic", days - 3: "gemini"}  # failure bursts
    n = 0
    for d in range(days):
        day = first_day + timedelta(days=d)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        weekend = day.weekday() >= 5
        growth = 1 + 0.004 * d
        for company, (brands, per_day, model_w, op_w) in COMPANIES.items():
            count = int(per_day * growth * (0.3 if weekend else 1.0) * rng.uniform(0.85, 1.15))
            for _ in range(count):
                n += 1
                ts = start + timedelta(seconds=_office_second(rng))
                if ts > now:
                    continue
                model = MODELS[rng.choices(list(model_w), list(model_w.values()))[0]]
                op = OP_INDEX[rng.choices(list(op_w), list(op_w.values()))[0]]
                yield _record(
                    rng, n, seed, ts, company, rng.choice(brands), model, op, burst=bursts.get(d) == model.provider
                )
            if company == "Humari" and d == spike_day:
                # A batch job ran the whole archive through gpt-4o: the day's cost triples and more.
                for _ in range(260):
                    n += 1
                    ts = start + timedelta(seconds=rng.randint(3600, 80000))
                    if ts <= now:
                        yield _record(
                            rng,
                            n,
                            seed,
                            ts,
                            company,
                            "Humari",
                            MODELS["gpt-4o"],
                            OP_INDEX["document-summary"],
                            burst=False,
                            scale=6.0,
                            description="Analyse complète archive documentaire (batch)",
                        )


def _office_second(rng: random.Random) -> int:
    # More traffic in working hours (UTC 7-18) than at night.
    if rng.random() < 0.8:
        return rng.randint(7 * 3600, 18 * 3600)
    return rng.randint(0, 86399)


def _record(
    rng,
    n,
    seed,
    ts,
    company,
    brand,
    model: Model,
    op,
    *,
    burst: bool,
    scale: float = 1.0,
    description: str | None = None,
) -> UsageRecord:
    _, job_type, mean_in, mean_out, desc = op
    inp = max(20, int(rng.lognormvariate(math.log(mean_in * scale), 0.5)))
    out = max(5, int(rng.lognormvariate(math.log(mean_out * scale), 0.5)))
    reasoning = int(out * rng.uniform(2, 5)) if model.reasoning else 0
    out += reasoning
    cached = int(inp * model.cache_share * rng.random()) if model.cache_share else 0
    fail_p = 0.25 if burst else 0.012
    roll = rng.random()
    status = "completed" if roll >= fail_p else ("timeout" if roll < fail_p * 0.3 else "failed")
    seconds = max(0.2, rng.gauss(model.avg_seconds * (scale**0.5), model.avg_seconds * 0.25))
    if status == "failed":
        out, reasoning = 0, 0
    if status == "timeout":
        seconds = 60.0 + rng.random() * 30
    rec = UsageRecord(
        job_id=f"demo-{seed}-{n:07d}",
        created_at=ts,
        company=company,
        brand=brand,
        provider=model.provider,
        model=model.name,
        job_type=job_type,
        status=status,
        input_tokens=inp,
        output_tokens=out,
        cached_tokens=cached,
        cache_write_tokens=0,
        reasoning_tokens=reasoning,
        execution_ms=int(seconds * 1000),
        memory_usage_mb=rng.choice((64, 64, 128, 256)),
        error_count=0 if status == "completed" else 1,
        success_rate=1.0 if status == "completed" else 0.0,
        operation=op[0],
        description=description or desc,
        cost_input=None,
        cost_output=None,
        error_class=None
        if status == "completed"
        else ("APITimeoutError" if status == "timeout" else "InternalServerError"),
    )
    rec.fingerprint = rec.compute_fingerprint()
    return rec


def has_demo_data(session: Session) -> bool:
    return session.get(WorkerState, DEMO_FLAG) is not None


def ledger_is_empty(session: Session) -> bool:
    return not session.scalar(select(exists().where(AIJob.id.is_not(None))))


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower())


def write_demo_bill(session: Session, seed: int, now: datetime) -> int:
    """OpenAI's bill for the demo's priced OpenAI calls, per company, day and model (see the module's docstring).
    Exact Decimal amounts; returns the number of cost lines written."""
    u = AIJobUsage
    day = type_coerce(rollup.day_expr(session), Date)
    q = (
        select(u.company_id, day.label("day"), u.model_name, func.sum(u.cost_input), func.sum(u.cost_output))
        .join(AIJob, AIJob.id == u.ai_job_id)
        .where(AIJob.is_demo.is_(True), u.provider_name == "openai", u.pricing_status != "unpriced")
        .group_by(u.company_id, day, u.model_name)
        .order_by(u.company_id, day, u.model_name)
    )
    names = dict(session.execute(select(Company.id, Company.name)).all())
    rng = random.Random(seed)
    today = now.astimezone(UTC).date()
    rows = []
    for cid, d, model, cost_in, cost_out in session.execute(q).all():
        d = date.fromisoformat(d) if isinstance(d, str) else d
        gap = BILL_GAPS.get((today - d).days) if model == BILL_GAP_MODEL else None
        factor = gap or 1 + Decimal(rng.randint(-BILL_NOISE_BP, BILL_NOISE_BP)) / 10_000
        snapshot = BILL_SNAPSHOTS.get(model, model)
        for kind, cost in (("input", cost_in), ("output", cost_out)):
            rows.append(
                {
                    "company_id": cid,
                    "provider": "openai",
                    "day": d,
                    "project_id": BILL_PROJECT_PREFIX + _slug(names.get(cid, str(cid))),
                    "line_item": f"{snapshot}, {kind}",
                    "model": snapshot,
                    "cost_kind": kind,
                    "amount": to_money(Decimal(cost or 0) * factor),
                    "currency": "usd",
                    "synced_at": now,
                }
            )
    for i in range(0, len(rows), 1000):
        session.execute(ProviderCost.__table__.insert(), rows[i : i + 1000])
    return len(rows)


def clear_demo(session: Session) -> int:
    """Delete demo rows (and their rollup contributions) and the demo's OpenAI bill."""
    demo_jobs = select(AIJob.id).where(AIJob.is_demo.is_(True))
    n = session.execute(delete(AIJobUsage).where(AIJobUsage.ai_job_id.in_(demo_jobs))).rowcount
    session.execute(delete(AIJob).where(AIJob.is_demo.is_(True)))
    session.execute(delete(ProviderCost).where(ProviderCost.project_id.like(BILL_PROJECT_PREFIX + "%")))
    rebuild(session)
    session.execute(delete(WorkerState).where(WorkerState.key == DEMO_FLAG))
    return n or 0


def load_demo(seed: int = 42, days: int = 120, now: datetime | None = None, *, replace: bool = False) -> dict:
    """Load demo data and demo budgets/quotas; returns counts. Refuses to mix with an existing demo set."""
    now = now or datetime.now(UTC)
    with session_scope() as s:
        if has_demo_data(s):
            if not replace:
                raise ValueError("demo data is already loaded (use --replace to load it again)")
            clear_demo(s)
        result = ingest(s, generate(seed, days, now), source="demo", is_demo=True, pricer=Pricer(s))
        bill_lines = write_demo_bill(s, seed, now)
        s.merge(WorkerState(key=DEMO_FLAG, value=f"seed={seed} days={days}", updated_at=now))
        month_start = datetime(now.year, now.month, 1, tzinfo=UTC)
        mtd = dict(
            s.execute(
                select(AIJobUsage.company_id, func.sum(AIJobUsage.total_cost))
                .where(AIJobUsage.created_at >= month_start)
                .group_by(AIJobUsage.company_id)
            ).all()
        )
    _demo_limits(mtd)
    return {"inserted": result.inserted, "duplicates": result.duplicates, "bill_lines": bill_lines}


def _demo_limits(mtd_by_company_id: dict) -> None:
    with session_scope() as s:
        names = dict(s.execute(select(Company.id, Company.name)).all())
    spent = {names[cid]: Decimal(v or 0) for cid, v in mtd_by_company_id.items()}
    humari = spent.get("Humari", Decimal(0))
    # Humari is at ~85% of its budget (cost warning); Qadhya has the probe's $10 OpenAI budget; Northwind is fine.
    set_budget("Humari", max(Decimal("50"), (humari / Decimal("0.85")).quantize(Decimal("1"))))
    set_budget("Qadhya", "10.00", provider="openai")
    set_budget("Northwind Labs", "2000.00")
    set_quota("Humari", "openai", monthly_usd=max(Decimal("25"), (humari * Decimal("0.8")).quantize(Decimal("1"))))
    set_quota("Northwind Labs", "mistral", monthly_tokens=50_000_000)
