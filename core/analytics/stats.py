"""The usage statistics view (`/ai/usage/stats/`): lifetime totals (up to `now`), the month to date against the whole
previous month, lifetime efficiency figures and top performers. `usage_stats` computes it as typed figures
(Decimal money); `get_usage_stats` is its JSON-able dict.

Top performers, over the lifetime: most efficient = the cheapest model as `core.analytics.model_choice.cheapest`
defines it for Efficiency too (lowest average cost per job among priced models with at least MIN_JOBS priced jobs;
a self-hosted $0 model is never it); fastest = lowest average execution time over its timed calls (a model with
none is not ranked); most used = most calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from core.analytics.common import (
    EPSILON,
    ZERO,
    Unpriced,
    average,
    avg_seconds,
    growth,
    money,
    rate,
    scope_filters,
    utc_now,
)
from core.analytics.model_choice import cheapest, model_costs
from core.queries.grouping import TIMING, VOLUME, Ask, Sums, grouped, total
from core.storage.db import read_scope

LIFE_DIMS = ("provider_name", "model_name", "pricing_status")


@dataclass(frozen=True, slots=True)
class Month:
    month: str  # YYYY-MM
    jobs: int
    cost: Decimal
    tokens: int

    def to_dict(self) -> dict:
        return {"jobs": self.jobs, "cost": money(self.cost), "tokens": self.tokens, "month": self.month}


@dataclass(frozen=True, slots=True)
class TopPerformers:
    most_efficient_model: str | None = None
    fastest_model: str | None = None
    most_used_model: str | None = None


@dataclass(frozen=True, slots=True)
class UsageStats:
    total_jobs: int
    total_cost: Decimal
    total_tokens: int
    cost_per_token: Decimal  # exact, over priced tokens (unpriced calls have tokens but no cost); 0 without any
    current_month: Month  # to `to`
    to: datetime
    previous_month: Month
    avg_tokens_per_job: int
    avg_cost_per_job: Decimal
    avg_execution_time: float | None
    success_rate: float
    top_performers: TopPerformers
    unpriced: Unpriced
    as_of: datetime

    def growth(self) -> dict[str, float | None]:
        c, p = self.current_month, self.previous_month
        return {
            "jobs_percentage": growth(c.jobs, p.jobs),
            "cost_percentage": growth(c.cost, p.cost),
            "tokens_percentage": growth(c.tokens, p.tokens),
        }

    def to_dict(self) -> dict:
        t = self.top_performers
        return {
            "lifetime": {
                "total_jobs": self.total_jobs,
                "total_cost": money(self.total_cost),
                "total_tokens": self.total_tokens,
                "avg_cost_per_token": round(float(self.cost_per_token), 9),
            },
            "monthly": {
                "current_month": self.current_month.to_dict() | {"to": self.to.date().isoformat()},
                "previous_month": self.previous_month.to_dict(),
                "growth": self.growth(),
            },
            "efficiency": {
                "avg_tokens_per_job": self.avg_tokens_per_job,
                "avg_cost_per_job": money(self.avg_cost_per_job),
                "avg_execution_time": self.avg_execution_time,
                "success_rate": self.success_rate,
            },
            "top_performers": {
                "most_efficient_model": t.most_efficient_model,
                "fastest_model": t.fastest_model,
                "most_used_model": t.most_used_model,
            },
            "unpriced": self.unpriced.to_dict(),
            "as_of": self.as_of.isoformat(),
        }


def top_performers(groups: dict[tuple, Sums]) -> TopPerformers:
    """Model names from sums keyed by LIFE_DIMS."""
    models: dict[tuple, Sums] = {}
    for (p, m, _), s in groups.items():
        models.setdefault((p, m), Sums()).add(s)
    models = {k: s for k, s in models.items() if s.jobs > 0}
    if not models:
        return TopPerformers()
    cheap = cheapest(model_costs(groups, LIFE_DIMS).values())
    timed = [(s.execution_ms / s.timed_jobs, m) for (_, m), s in models.items() if s.timed_jobs > 0]
    used = min((-s.jobs, m) for (_, m), s in models.items())
    return TopPerformers(cheap.model if cheap else None, min(timed)[1] if timed else None, used[1])


def usage_stats(
    now: datetime | None = None,
    company: str | None = None,
    session: Session | None = None,
    *,
    brand=None,
    provider: str | None = None,
) -> UsageStats:
    now = utc_now(now)
    m0 = datetime(now.year, now.month, 1, tzinfo=UTC)
    p0 = datetime(m0.year - (m0.month == 1), (m0.month - 2) % 12 + 1, 1, tzinfo=UTC)
    with read_scope(session) as s:
        filters = scope_filters(s, company=company, brand=brand, provider=provider)
        g = grouped(
            s,
            {
                "life": Ask(None, now + EPSILON, {"models": LIFE_DIMS}, filters, VOLUME + TIMING + ("success_sum",)),
                "month": Ask(m0, now + EPSILON, {"total": ()}, filters, VOLUME),
                "previous": Ask(p0, m0, {"total": ()}, filters, VOLUME),
            },
        )
    life = g["life"]["models"]
    lt, ct, pt = total(life), total(g["month"]["total"]), total(g["previous"]["total"])
    priced_tokens = sum(s.total_tokens for k, s in life.items() if k[2] != "unpriced")
    return UsageStats(
        total_jobs=lt.jobs,
        total_cost=lt.total_cost,
        total_tokens=lt.total_tokens,
        # Per priced token: unpriced calls add tokens but no cost, which would understate the rate.
        cost_per_token=lt.total_cost / priced_tokens if priced_tokens else ZERO,
        current_month=Month(m0.strftime("%Y-%m"), ct.jobs, ct.total_cost, ct.total_tokens),
        to=now,
        previous_month=Month(p0.strftime("%Y-%m"), pt.jobs, pt.total_cost, pt.total_tokens),
        avg_tokens_per_job=round(lt.total_tokens / lt.jobs) if lt.jobs else 0,
        avg_cost_per_job=average(lt.total_cost, lt.jobs) if lt.jobs else ZERO,
        avg_execution_time=avg_seconds(lt.execution_ms, lt.timed_jobs),
        success_rate=rate(lt.success_sum, lt.jobs),
        top_performers=top_performers(life),
        unpriced=Unpriced.of(life, LIFE_DIMS),
        as_of=now,
    )


def get_usage_stats(
    now: datetime | None = None,
    company: str | None = None,
    session: Session | None = None,
    *,
    brand=None,
    provider: str | None = None,
) -> dict:
    """Lifetime and monthly statistics as the usage spec's dict (see `usage_stats`)."""
    return usage_stats(now, company, session, brand=brand, provider=provider).to_dict()
