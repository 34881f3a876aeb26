"""The usage dashboard's typed figures (Decimal money): the period's totals, its shares per provider / model /
operation / brand / day, the costliest jobs and quality, and `Overview.to_dict`, the usage spec's dashboard dict.
Brand shares serve the cost breakdown too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from core.analytics.common import EPSILON, ZERO, Unpriced, average, avg_seconds, growth, money, pct
from core.queries.grouping import Sums
from core.queries.usage_list import iso_z


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


def brand_shares(groups: dict[tuple, Sums], names: dict[int, tuple[str, str]], whole: Decimal) -> list[BrandShare]:
    """Per brand, dearest first (a brand no longer known shows its id)."""
    out = []
    for (bid,), g in groups.items():
        bname, cname = names.get(int(bid), (str(bid), ""))
        out.append(BrandShare(int(bid), bname, cname, g.jobs, g.total_tokens, g.total_cost, pct(g.total_cost, whole)))
    return sorted(out, key=lambda x: (-x.cost, -x.jobs, x.brand_name, x.brand_id))
