"""The usage dashboard (`/ai/usage/dashboard/`): totals, per provider / model / operation / brand / day, the ten
costliest jobs and quality figures over [now - days, now], with the previous period of the same length for
comparison. `overview` computes it as typed figures (Decimal money); `get_usage_dashboard` is its JSON-able dict."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.analytics.common import (
    EPSILON,
    ZERO,
    Unpriced,
    average,
    avg_seconds,
    brand_names,
    company_ids_in_scope,
    growth,
    midnight,
    money,
    pct,
    rate,
    scope_filters,
    utc_now,
)
from core.errors import InvalidRecord
from core.queries.costliest import costliest_ids
from core.queries.grouping import TIMING, VOLUME, Ask, Sums, day_of, grouped, regroup, total
from core.queries.usage_list import iso_z
from core.queries.values import day_in_range
from core.redact import redact
from core.storage.db import read_scope
from core.storage.models import AIJob, AIJobUsage

# The window's grouping sets: operation x brand from the wide daily rollup, the rest from the narrow one (~10x
# fewer rows), two ranges over the same window in one statement. Two sets in the database (each rollup row of the
# range hashed once per set): the totals, providers, models, statuses, unpriced calls and days are summed from
# their few dozen groups in Python.
DETAIL = ("provider_name", "model_name", "job_status", "pricing_status")
DAY_PROVIDER = ("day", "provider_name")
OP_BRAND = ("operation", "brand_id")
SETS = {"detail": DETAIL, "day_provider": DAY_PROVIDER}
WIDE_SETS = {"op_brand": OP_BRAND}


@dataclass(frozen=True, slots=True)
class Summary:
    """A period's totals; the averages are the figures shown (to the micro-dollar, to the hundredth second)."""

    jobs: int = 0
    tokens: int = 0
    cost: Decimal = ZERO
    avg_cost_per_job: Decimal = ZERO
    avg_execution_time: float | None = None

    @classmethod
    def of(cls, s: Sums) -> Summary:
        return cls(
            s.jobs,
            s.total_tokens,
            s.total_cost,
            average(s.total_cost, s.jobs),
            avg_seconds(s.execution_ms, s.timed_jobs),
        )

    def to_dict(self) -> dict:
        return {
            "jobs": self.jobs,
            "tokens": self.tokens,
            "cost": money(self.cost),
            "avg_cost_per_job": money(self.avg_cost_per_job),
            "avg_execution_time": self.avg_execution_time,
        }


@dataclass(frozen=True, slots=True)
class ProviderShare:
    provider: str
    jobs: int
    tokens: int
    cost: Decimal
    percentage: float
    jobs_percentage: float
    avg_cost: Decimal
    unpriced_jobs: int


@dataclass(frozen=True, slots=True)
class ModelShare:
    model: str
    provider: str
    jobs: int
    tokens: int
    cost: Decimal
    percentage: float
    avg_tokens: int
    avg_cost: Decimal


@dataclass(frozen=True, slots=True)
class OperationShare:
    operation: str
    calls: int
    tokens: int
    cost: Decimal
    percentage: float


@dataclass(frozen=True, slots=True)
class BrandShare:
    brand_id: int
    brand_name: str
    company: str
    jobs: int
    tokens: int
    cost: Decimal
    percentage: float


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    jobs: int
    cost: Decimal
    tokens: int
    avg_execution_time: float | None


@dataclass(frozen=True, slots=True)
class DayProvider:
    day: date
    provider: str
    jobs: int
    tokens: int
    cost: Decimal


@dataclass(frozen=True, slots=True)
class CostlyJob:
    job_id: str
    cost: Decimal
    tokens: int
    model: str
    provider: str
    description: str | None  # redacted
    operation: str
    status: str
    usage_id: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Quality:
    success_rate: float
    avg_execution_time: float | None
    failed_jobs: int
    timeout_jobs: int
    error_count: int


@dataclass(frozen=True, slots=True)
class Overview:
    days: int
    start: datetime  # the window, both ends included
    end: datetime
    previous_start: datetime
    provider: str | None
    brand: object
    company: str | None
    company_known: bool
    totals: Summary
    previous: Summary
    by_provider: tuple[ProviderShare, ...]
    by_model: tuple[ModelShare, ...]
    by_operation: tuple[OperationShare, ...]
    by_brand: tuple[BrandShare, ...]
    daily: tuple[Day, ...]  # newest first
    daily_by_provider: tuple[DayProvider, ...]  # oldest first, then by provider
    top_costly_jobs: tuple[CostlyJob, ...]
    quality: Quality
    unpriced: Unpriced

    @property
    def previous_end(self) -> datetime:
        """The previous period's last instant (it ends where the window starts)."""
        return self.start - EPSILON

    def change(self) -> dict[str, float | None]:
        """Each total against the previous period's, in percent (None: nothing to compare with)."""
        c, p = self.totals, self.previous
        return {
            "jobs_percentage": growth(c.jobs, p.jobs),
            "tokens_percentage": growth(c.tokens, p.tokens),
            "cost_percentage": growth(c.cost, p.cost),
            "avg_cost_per_job_percentage": growth(c.avg_cost_per_job, p.avg_cost_per_job),
            "avg_execution_time_percentage": growth(c.avg_execution_time, p.avg_execution_time),
        }

    def to_dict(self) -> dict:
        """The usage spec's dashboard: money as decimal strings, dates as ISO strings."""
        return {
            "period": {
                "days": self.days,
                "start_date": self.start.date().isoformat(),
                "end_date": self.end.date().isoformat(),
                "start": iso_z(self.start),
                "end": iso_z(self.end),
            },
            "filters": {
                "provider": self.provider,
                "brand": self.brand,
                "company": self.company,
                "company_known": self.company_known,
            },
            "totals": self.totals.to_dict(),
            "comparison": {
                "previous_period": {
                    "start_date": self.previous_start.date().isoformat(),
                    "end_date": self.previous_end.date().isoformat(),
                    **self.previous.to_dict(),
                },
                "change": self.change(),
            },
            "by_provider": [
                {
                    "provider": p.provider,
                    "jobs": p.jobs,
                    "tokens": p.tokens,
                    "cost": money(p.cost),
                    "percentage": p.percentage,
                    "jobs_percentage": p.jobs_percentage,
                    "avg_cost": money(p.avg_cost),
                    "unpriced_jobs": p.unpriced_jobs,
                }
                for p in self.by_provider
            ],
            "by_model": [
                {
                    "model": m.model,
                    "provider": m.provider,
                    "jobs": m.jobs,
                    "tokens": m.tokens,
                    "cost": money(m.cost),
                    "percentage": m.percentage,
                    "avg_tokens": m.avg_tokens,
                    "avg_cost": money(m.avg_cost),
                }
                for m in self.by_model
            ],
            "by_operation": [
                {
                    "operation": o.operation,
                    "calls": o.calls,
                    "tokens": o.tokens,
                    "cost": money(o.cost),
                    "percentage": o.percentage,
                }
                for o in self.by_operation
            ],
            "by_brand": [
                {
                    "brand_id": b.brand_id,
                    "brand_name": b.brand_name,
                    "company": b.company,
                    "jobs": b.jobs,
                    "tokens": b.tokens,
                    "cost": money(b.cost),
                    "percentage": b.percentage,
                }
                for b in self.by_brand
            ],
            "daily_breakdown": [
                {
                    "date": d.day.isoformat(),
                    "jobs": d.jobs,
                    "cost": money(d.cost),
                    "tokens": d.tokens,
                    "avg_execution_time": d.avg_execution_time,
                }
                for d in self.daily
            ],
            "daily_by_provider": [
                {
                    "date": d.day.isoformat(),
                    "provider": d.provider,
                    "jobs": d.jobs,
                    "tokens": d.tokens,
                    "cost": money(d.cost),
                }
                for d in self.daily_by_provider
            ],
            "top_costly_jobs": [
                {
                    "job_id": j.job_id,
                    "cost": money(j.cost),
                    "tokens": j.tokens,
                    "model": j.model,
                    "provider": j.provider,
                    "description": j.description,
                    "operation": j.operation,
                    "status": j.status,
                    "usage_id": j.usage_id,
                    "created_at": iso_z(j.created_at),
                }
                for j in self.top_costly_jobs
            ],
            "quality_metrics": {
                "success_rate": self.quality.success_rate,
                "avg_execution_time": self.quality.avg_execution_time,
                "failed_jobs": self.quality.failed_jobs,
                "timeout_jobs": self.quality.timeout_jobs,
                "error_count": self.quality.error_count,
            },
            "unpriced": self.unpriced.to_dict(),
        }


def window(days, start, end, now: datetime) -> tuple[datetime, datetime, int]:
    """(start, end exclusive, length in days). A custom range takes whole UTC days, end date included."""
    if start is not None or end is not None:
        d0 = start.date() if isinstance(start, datetime) else start
        d1 = end.date() if isinstance(end, datetime) else end
        d1 = d1 or now.date()
        d0 = d0 or d1 - timedelta(days=29)
        day_in_range("start", d0)
        day_in_range("end", d1)
        if d0 > d1:
            raise InvalidRecord("start", str(d0), "must not be after end")
        return midnight(d0), min(midnight(d1 + timedelta(days=1)), now + EPSILON), (d1 - d0).days + 1
    try:
        days = int(days)
    except (TypeError, ValueError):
        raise InvalidRecord("days", days, "must be a whole number of days") from None
    if not 1 <= days <= 3660:
        raise InvalidRecord("days", days, "must be between 1 and 3660")
    return now - timedelta(days=days), now + EPSILON, days


def _top_costly(s: Session, start: datetime, end: datetime, filters: dict, limit: int = 10) -> tuple[CostlyJob, ...]:
    # The ids from the cost index (core.queries.costliest: a short index walk per day), then their details: no scan of
    # the range, and no join before the ten rows are known.
    u = AIJobUsage
    conds = [
        getattr(u, dim).in_(value) if isinstance(value, list) else getattr(u, dim) == value
        for dim, value in filters.items()
        if value is not None
    ]
    ids = costliest_ids(s, start, end, conds, limit)
    if not ids:
        return ()
    q = (
        select(
            u.id,
            u.total_cost,
            u.total_tokens,
            u.model_name,
            u.provider_name,
            u.created_at,
            u.job_status,
            AIJob.job_id,
            AIJob.description,
            AIJob.operation,
        )
        .join(AIJob, AIJob.id == u.ai_job_id)
        .where(u.id.in_(ids))
    )
    rows = {r.id: r for r in s.execute(q)}
    return tuple(
        CostlyJob(
            r.job_id,
            r.total_cost,
            int(r.total_tokens),
            r.model_name,
            r.provider_name,
            None if r.description is None else redact(r.description),
            r.operation,
            r.job_status,
            r.id,
            r.created_at,
        )
        for r in (rows[i] for i in ids if i in rows)
    )


def brand_shares(groups: dict[tuple, Sums], names: dict[int, tuple[str, str]], whole: Decimal) -> list[BrandShare]:
    """Per brand, dearest first (a brand no longer known shows its id)."""
    out = []
    for (bid,), g in groups.items():
        bname, cname = names.get(int(bid), (str(bid), ""))
        out.append(BrandShare(int(bid), bname, cname, g.jobs, g.total_tokens, g.total_cost, pct(g.total_cost, whole)))
    return sorted(out, key=lambda x: (-x.cost, -x.jobs, x.brand_name, x.brand_id))


def overview(
    days: int = 30,
    provider: str | None = None,
    brand=None,
    now: datetime | None = None,
    company: str | None = None,
    session: Session | None = None,
    *,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
) -> Overview:
    """The dashboard's figures. `start`/`end` (dates, both included) replace `days` for a custom range."""
    now = utc_now(now)
    w0, w1, length = window(days, start, end, now)
    prev0 = w0 - (w1 - w0)
    with read_scope(session) as s:
        filters = scope_filters(s, company=company, brand=brand, provider=provider)
        g = grouped(
            s,
            {
                "window": Ask(w0, w1, SETS, filters),
                "wide": Ask(w0, w1, WIDE_SETS, filters, VOLUME),
                "previous": Ask(prev0, w0, {"total": ()}, filters, VOLUME + TIMING),
            },
        )
        detail, day_provider, op_brand = g["window"]["detail"], g["window"]["day_provider"], g["wide"]["op_brand"]
        by_brand = regroup(op_brand, OP_BRAND, ("brand_id",))
        top = _top_costly(s, w0, w1, filters)
        brands = brand_names(s, [k[0] for k in by_brand])
        in_scope = bool(company_ids_in_scope(s, company))
    models = regroup(detail, DETAIL, ("provider_name", "model_name"))
    providers = regroup(models, ("provider_name", "model_name"), ("provider_name",))
    t = total(providers)
    whole = t.total_cost
    unpriced_by_provider: dict[str, int] = {}
    for (p, _, _, pricing), u in detail.items():
        if pricing == "unpriced":
            unpriced_by_provider[p] = unpriced_by_provider.get(p, 0) + u.jobs
    by_provider = sorted(
        (
            ProviderShare(
                p,
                g_.jobs,
                g_.total_tokens,
                g_.total_cost,
                pct(g_.total_cost, whole),
                pct(g_.jobs, t.jobs),
                average(g_.total_cost, g_.jobs),
                unpriced_by_provider.get(p, 0),
            )
            for (p,), g_ in providers.items()
        ),
        key=lambda x: (-x.cost, -x.jobs, x.provider),
    )
    by_model = sorted(
        (
            ModelShare(
                m,
                p,
                g_.jobs,
                g_.total_tokens,
                g_.total_cost,
                pct(g_.total_cost, whole),
                round(g_.total_tokens / g_.jobs) if g_.jobs else 0,
                average(g_.total_cost, g_.jobs),
            )
            for (p, m), g_ in models.items()
        ),
        key=lambda x: (-x.cost, -x.jobs, x.model, x.provider),
    )
    by_operation = sorted(
        (
            OperationShare(op, g_.jobs, g_.total_tokens, g_.total_cost, pct(g_.total_cost, whole))
            for (op,), g_ in regroup(op_brand, OP_BRAND, ("operation",)).items()
        ),
        key=lambda x: (-x.cost, -x.calls, x.operation),
    )
    daily = sorted(
        (
            Day(day_of(d), g_.jobs, g_.total_cost, g_.total_tokens, avg_seconds(g_.execution_ms, g_.timed_jobs))
            for (d,), g_ in regroup(day_provider, DAY_PROVIDER, ("day",)).items()
        ),
        key=lambda x: x.day,
        reverse=True,
    )
    daily_by_provider = sorted(
        (DayProvider(day_of(d), p, g_.jobs, g_.total_tokens, g_.total_cost) for (d, p), g_ in day_provider.items()),
        key=lambda x: (x.day, x.provider),
    )
    status = {k[0]: g_.jobs for k, g_ in regroup(detail, DETAIL, ("job_status",)).items()}
    quality = Quality(
        rate(t.success_sum, t.jobs),
        avg_seconds(t.execution_ms, t.timed_jobs),
        status.get("failed", 0),
        status.get("timeout", 0),
        t.error_count,
    )
    return Overview(
        days=length,
        start=w0,
        end=w1 - EPSILON,
        previous_start=prev0,
        provider=provider or None,
        brand=brand if brand not in ("", None) else None,
        company=company or None,
        company_known=in_scope,
        totals=Summary.of(t),
        previous=Summary.of(total(g["previous"]["total"])),
        by_provider=tuple(by_provider),
        by_model=tuple(by_model),
        by_operation=tuple(by_operation),
        by_brand=tuple(brand_shares(by_brand, brands, whole)),
        daily=tuple(daily),
        daily_by_provider=tuple(daily_by_provider),
        top_costly_jobs=top,
        quality=quality,
        unpriced=Unpriced.of(detail, DETAIL),
    )


def get_usage_dashboard(
    days: int = 30,
    provider: str | None = None,
    brand=None,
    now: datetime | None = None,
    company: str | None = None,
    session: Session | None = None,
    *,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
) -> dict:
    """The main usage dashboard as the usage spec's dict (see `overview`)."""
    return overview(days, provider, brand, now, company, session, start=start, end=end).to_dict()
