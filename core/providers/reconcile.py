"""Reconciliation: what our ledger estimated against what a provider billed, per day and model — one
implementation for every billed provider (core.providers.bills: OpenAI, Anthropic).

- Estimated: the ledger's cost for the provider (daily rollup), minus the rows imported from the provider's
  own bill (source "provider_bill"), which are the bill, not an estimate. Read as rollup minus those few rows,
  so the ledger is never scanned.
- Billed: the cost lines its bill sync keeps in `provider_costs` (OpenAI's Costs API, Anthropic's cost report),
  "other" lines (tools, web search) included: they are billed too.
- Models are compared without their snapshot date ("gpt-4o-mini-2024-07-18" and "gpt-4o-mini" are one).
- difference = estimated - billed; difference_pct = difference / billed x 100 (None when nothing was billed).
  A day is over tolerance when |difference_pct| exceeds the tolerance, or when only one side has a cost.
Money values are exact decimal strings (6 places); percentages are floats.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Date, func, literal, select, type_coerce
from sqlalchemy.orm import Session

from core.clock import midnight, utc_now
from core.config import get_settings
from core.money import ZERO, exact
from core.providers.bill_sync import SOURCE as BILL_SOURCE
from core.providers.bill_sync import base_model
from core.queries.grouping import VOLUME, Ask, grouped
from core.storage.db import session_scope
from core.storage.models import AIJob, AIJobUsage, Company, ProviderCost
from core.storage.rollups import day_expr


def _pct(diff: Decimal, billed: Decimal) -> float | None:
    return round(float(diff * 100 / billed), 2) if billed else None


def _over(estimated: Decimal, billed: Decimal, tolerance: Decimal) -> bool:
    if not billed:
        return estimated != 0
    return abs((estimated - billed) * 100 / billed) > tolerance


def _as_date(v) -> date:
    return date.fromisoformat(v) if isinstance(v, str) else v


def _estimated(s: Session, provider: str, cid: int | None, d0: date, d1: date) -> dict[tuple[date, str], list]:
    start, end = midnight(d0), midnight(d1)
    filters = {"provider_name": provider, "company_id": cid}
    sets = {"rows": ("day", "model_name", "pricing_status")}
    groups = grouped(s, {"month": Ask(start, end, sets, filters, VOLUME)})["month"]["rows"]
    out: dict[tuple[date, str], list] = {}
    for (day, model, pricing), r in groups.items():
        acc = out.setdefault((_as_date(day), base_model(model)), [ZERO, 0])
        acc[0] += r.total_cost
        if pricing == "unpriced":
            acc[1] += r.jobs
    u = AIJobUsage
    day = type_coerce(day_expr(s), Date)
    # The bill's few jobs as a subquery with the source inline (a literal, not a parameter): both planners read
    # them from their partial index (ix_ai_jobs_provider_bill), then each one's usage row by ix_usage_job_created.
    # As a join, SQLite walked the provider's whole month of usage instead (0.53 s at 1M records, here 0.1 ms).
    bill_jobs = select(AIJob.id).where(AIJob.source == literal(BILL_SOURCE, literal_execute=True))
    q = (
        select(day.label("day"), u.model_name, func.sum(u.total_cost).label("cost"), func.count().label("jobs"))
        .where(
            u.ai_job_id.in_(bill_jobs),
            u.provider_name == provider,
            u.created_at >= start,
            u.created_at < end,
        )
        .group_by(day, u.model_name)
    )
    if cid is not None:
        q = q.where(u.company_id == cid)
    for r in s.execute(q):
        key = (_as_date(r.day), base_model(r.model_name))
        if key in out:
            out[key][0] -= r.cost or ZERO
    return out


def _billed(s: Session, provider: str, cid: int | None, d0: date, d1: date) -> tuple[dict, set[date]]:
    p = ProviderCost
    q = (
        select(p.day, p.model, func.sum(p.amount).label("amount"))
        .where(p.provider == provider, p.currency == "usd", p.day >= d0, p.day < d1)
        .group_by(p.day, p.model)
    )
    if cid is not None:
        q = q.where(p.company_id == cid)
    out: dict[tuple[date, str], Decimal] = {}
    for r in s.execute(q):
        key = (_as_date(r.day), base_model(r.model))
        out[key] = out.get(key, ZERO) + (r.amount or ZERO)
    synced_q = select(p.day).where(p.provider == provider, p.day >= d0, p.day < d1).distinct()
    if cid is not None:
        synced_q = synced_q.where(p.company_id == cid)
    return out, {_as_date(d) for d in s.scalars(synced_q)}


def reconcile(
    since: date | None = None,
    until: date | None = None,
    *,
    company: str | None = None,
    provider: str = "openai",
    tolerance_pct: Decimal | float | str | None = None,
    now: datetime | None = None,
    session: Session | None = None,
) -> dict:
    """Estimated vs billed over [since, until] (whole UTC days; default: the last 30 days up to today)."""
    now = utc_now(now)
    until = until or now.date()
    since = since or until - timedelta(days=29)
    if since > until:
        raise ValueError(f"since={since.isoformat()}: must not be after until={until.isoformat()}")
    tolerance = Decimal(str(tolerance_pct)) if tolerance_pct is not None else get_settings().reconcile_tolerance_pct
    if tolerance < 0:
        raise ValueError(f"tolerance_pct={tolerance}: must not be negative")
    d0, d1 = since, until + timedelta(days=1)
    with session_scope(session) as s:
        cid = None
        known = True
        if company:
            cid = s.scalar(select(Company.id).where(Company.name == company))
            known = cid is not None
        est, (billed, synced) = (
            ({}, ({}, set()))
            if not known
            else (_estimated(s, provider, cid, d0, d1), _billed(s, provider, cid, d0, d1))
        )
    rows = []
    per_day: dict[date, list[Decimal]] = {}
    for day, model in sorted(set(est) | set(billed)):
        e, unpriced = est.get((day, model), [ZERO, 0])
        b = billed.get((day, model), ZERO)
        if e == 0 and b == 0 and not unpriced:
            continue
        rows.append(
            {
                "date": day.isoformat(),
                "model": model,
                "estimated": exact(e),
                "billed": exact(b),
                "difference": exact(e - b),
                "difference_pct": _pct(e - b, b),
                "over_tolerance": _over(e, b, tolerance),
                "unpriced_jobs": unpriced,
            }
        )
        acc = per_day.setdefault(day, [ZERO, ZERO])
        acc[0] += e
        acc[1] += b
    days = [
        {
            "date": d.isoformat(),
            "estimated": exact(e),
            "billed": exact(b),
            "difference": exact(e - b),
            "difference_pct": _pct(e - b, b),
            "over_tolerance": _over(e, b, tolerance),
            "synced": d in synced,
        }
        for d, (e, b) in sorted(per_day.items())
    ]
    te = sum((v[0] for v in per_day.values()), ZERO)
    tb = sum((v[1] for v in per_day.values()), ZERO)
    return {
        "provider": provider,
        "company": company or None,
        "company_known": known,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "tolerance_pct": float(tolerance),
        "totals": {
            "estimated": exact(te),
            "billed": exact(tb),
            "difference": exact(te - tb),
            "difference_pct": _pct(te - tb, tb),
        },
        "days": days,
        "rows": rows,
        "days_over_tolerance": [d["date"] for d in days if d["over_tolerance"]],
    }
