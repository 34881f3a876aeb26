"""The cost breakdown (`/ai/usage/cost_breakdown/`): one calendar month (UTC) by provider, model and brand, ISO
weeks, the company budget, the month-end projection and the day the budget runs out at the current pace.
`cost_breakdown` computes it as typed figures (Decimal money); `get_cost_breakdown` is its JSON-able dict.

Projection rule: for the month in progress, cost so far / days elapsed (fractional, at least one day) x days in the
month; for a finished month, its actual total; for a month not yet started, zero.
"""

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
    brand_names,
    company_ids_in_scope,
    micro,
    money,
    month_bounds,
    pct,
    scope_filters,
    utc_now,
)
from core.analytics.dashboard_figures import BrandShare, brand_shares
from core.queries.grouping import VOLUME, Ask, Sums, day_of, grouped, regroup, total
from core.storage.db import read_scope
from core.storage.models import Budget, Company

# Brands come from the wide rollup, apart: day x model x brand would multiply the rows read for nothing. The
# totals, providers, models and unpriced calls are summed in Python from the few dozen groups of DETAIL.
DETAIL = ("provider_name", "model_name", "pricing_status")
SETS = {"detail": DETAIL, "day": ("day",)}


@dataclass(frozen=True, slots=True)
class BudgetLimit:
    company: str
    provider: str | None  # None: company-wide
    monthly_usd: Decimal


@dataclass(frozen=True, slots=True)
class Forecast:
    """When the budget runs out: the day it was crossed, or the day it will be at the current daily pace."""

    status: str  # no_budget, exceeded, runs_out, within_budget
    runs_out_on: date | None
    daily_pace: Decimal
    remaining: Decimal | None


@dataclass(frozen=True, slots=True)
class ProviderCost:
    provider: str
    total_cost: Decimal
    percentage: float
    jobs: int
    tokens: int
    avg_cost_per_job: Decimal


@dataclass(frozen=True, slots=True)
class ModelCost:
    model: str
    provider: str
    cost: Decimal
    jobs: int
    tokens: int
    percentage: float


@dataclass(frozen=True, slots=True)
class Week:
    week: str  # ISO week, 2025-W47
    start: date  # the week's days inside the month
    end: date
    cost: Decimal
    jobs: int
    tokens: int
    avg_daily: Decimal


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    month: str
    start: date
    end: date
    days_elapsed: float
    total_cost: Decimal
    jobs: int
    tokens: int
    budget_limit: Decimal | None
    budget_used_percentage: float | None
    projected_monthly_cost: Decimal
    projected_budget_percentage: float | None
    forecast: Forecast
    budgets: tuple[BudgetLimit, ...]
    by_provider: tuple[ProviderCost, ...]
    by_model: tuple[ModelCost, ...]
    by_brand: tuple[BrandShare, ...]
    weeks: tuple[Week, ...]
    daily: tuple[tuple[date, Decimal], ...]  # (day, cost), oldest first
    unpriced: Unpriced

    def to_dict(self) -> dict:
        f = self.forecast
        return {
            "period": {
                "month": self.month,
                "start_date": self.start.isoformat(),
                "end_date": self.end.isoformat(),
                "days_elapsed": self.days_elapsed,
            },
            "total_cost": money(self.total_cost),
            "jobs": self.jobs,
            "tokens": self.tokens,
            "budget_limit": money(self.budget_limit),
            "budget_used_percentage": self.budget_used_percentage,
            "projected_monthly_cost": money(self.projected_monthly_cost),
            "projected_budget_percentage": self.projected_budget_percentage,
            "budget_forecast": {
                "status": f.status,
                "runs_out_on": f.runs_out_on and f.runs_out_on.isoformat(),
                "daily_pace": money(f.daily_pace),
                "remaining": money(f.remaining),
            },
            "budgets": [
                {"company": b.company, "provider": b.provider, "monthly_usd": money(b.monthly_usd)}
                for b in self.budgets
            ],
            "by_provider": [
                {
                    "provider": p.provider,
                    "total_cost": money(p.total_cost),
                    "percentage": p.percentage,
                    "jobs": p.jobs,
                    "tokens": p.tokens,
                    "avg_cost_per_job": money(p.avg_cost_per_job),
                }
                for p in self.by_provider
            ],
            "by_model": [
                {
                    "model": m.model,
                    "provider": m.provider,
                    "cost": money(m.cost),
                    "jobs": m.jobs,
                    "tokens": m.tokens,
                    "percentage": m.percentage,
                }
                for m in self.by_model
            ],
            "by_brand": [
                {
                    "brand_id": b.brand_id,
                    "brand_name": b.brand_name,
                    "company": b.company,
                    "cost": money(b.cost),
                    "jobs": b.jobs,
                    "percentage": b.percentage,
                }
                for b in self.by_brand
            ],
            "cost_trends": [
                {
                    "week": w.week,
                    "start_date": w.start.isoformat(),
                    "end_date": w.end.isoformat(),
                    "cost": money(w.cost),
                    "jobs": w.jobs,
                    "tokens": w.tokens,
                    "avg_daily": money(w.avg_daily),
                }
                for w in self.weeks
            ],
            "daily": [{"date": d.isoformat(), "cost": money(c)} for d, c in self.daily],
            "unpriced": self.unpriced.to_dict(),
        }


def _budgets(s: Session, ids: list[int]) -> tuple[BudgetLimit, ...]:
    if not ids:
        return ()
    q = (
        select(Budget.provider, Budget.monthly_usd, Company.name)
        .join(Company, Company.id == Budget.company_id)
        .where(Budget.company_id.in_(ids))
        .order_by(Company.name, Budget.provider)
    )
    return tuple(BudgetLimit(c, p or None, micro(v)) for p, v, c in s.execute(q))


def _forecast(
    budget: Decimal | None,
    spent_to_now: Decimal,
    daily: list[tuple],
    now: datetime,
    m0: datetime,
    m1: datetime,
    elapsed_days: Decimal,
) -> Forecast:
    pace = spent_to_now / elapsed_days if elapsed_days > 0 else ZERO
    pace_shown = micro(pace)
    if budget is None:
        return Forecast("no_budget", None, pace_shown, None)
    remaining = micro(budget - spent_to_now)
    if spent_to_now >= budget:
        running = ZERO
        for day, cost in daily:
            running += cost
            if running >= budget:
                return Forecast("exceeded", day, pace_shown, remaining)
        return Forecast("exceeded", m0.date(), pace_shown, remaining)
    if now >= m1 or pace <= 0:
        return Forecast("within_budget", None, pace_shown, remaining)
    days_left = (budget - spent_to_now) / pace
    # Compare in days before building a date: a tiny pace puts the run-out day past year 9999.
    if days_left >= Decimal((m1 - now).total_seconds()) / 86400:
        return Forecast("within_budget", None, pace_shown, remaining)
    return Forecast("runs_out", (now + timedelta(days=float(days_left))).date(), pace_shown, remaining)


def _weeks(per_day: dict[date, Sums], m0: datetime, m1: datetime, now: datetime) -> tuple[Week, ...]:
    """ISO weeks overlapping the month; avg_daily = week cost / days of that week inside the month, up to today."""
    last_day = (m1 - EPSILON).date()
    out = []
    d = m0.date() - timedelta(days=m0.date().weekday())
    while d <= last_day:
        w0, w1 = max(d, m0.date()), min(d + timedelta(days=6), last_day)
        days = [w0 + timedelta(days=i) for i in range((w1 - w0).days + 1)]
        week = Sums()
        for x in days:
            if x in per_day:
                week.add(per_day[x])
        counted = len([x for x in days if x <= now.date()])
        if counted or week.jobs:
            iso = d.isocalendar()
            out.append(
                Week(
                    f"{iso.year}-W{iso.week:02d}",
                    w0,
                    w1,
                    week.total_cost,
                    week.jobs,
                    week.total_tokens,
                    average(week.total_cost, max(counted, 1)),
                )
            )
        d += timedelta(days=7)
    return tuple(out)


def cost_breakdown(
    month: str | None = None,
    brand=None,
    now: datetime | None = None,
    company: str | None = None,
    session: Session | None = None,
    *,
    provider: str | None = None,
) -> CostBreakdown:
    now = utc_now(now)
    m0, m1 = month_bounds(month, now)
    with read_scope(session) as s:
        filters = scope_filters(s, company=company, brand=brand, provider=provider)
        asks = {
            "month": Ask(m0, m1, SETS, filters, VOLUME),
            "by_brand": Ask(m0, m1, {"brand": ("brand_id",)}, filters, VOLUME),
        }
        if m0 <= now < m1:
            asks["to_now"] = Ask(m0, now + EPSILON, {"total": ()}, filters, VOLUME)
        g = grouped(s, asks)
        cur = g["month"]
        brands = brand_names(s, [k[0] for k in g["by_brand"]["brand"]])
        in_scope = company_ids_in_scope(s, company)
        budgets = _budgets(s, in_scope)
    models = regroup(cur["detail"], DETAIL, ("provider_name", "model_name"))
    t = total(models)
    whole = t.total_cost
    # The headline budget is one company's (adding up different companies' budgets answers no one's question):
    # its company-wide budget, or with a provider filter that provider's own; every budget and quota of the
    # scope is on the budget status board (budget_status).
    wanted = (provider or "").strip().lower() or None
    own = [b.monthly_usd for b in budgets if b.provider == wanted] if len(in_scope) == 1 else []
    budget = own[0] if own else None

    days_in_month = Decimal((m1 - m0).days)
    if now >= m1:
        spent_to_now = whole
    elif now < m0:
        spent_to_now = ZERO
    else:
        spent_to_now = total(g["to_now"]["total"]).total_cost
    if now >= m1:
        projected, elapsed = whole, days_in_month
    elif now < m0:
        projected, elapsed = ZERO, Decimal(0)
    else:
        elapsed = max(Decimal((now - m0).total_seconds()) / Decimal(86400), Decimal(1))
        projected = spent_to_now / elapsed * days_in_month

    by_provider = sorted(
        (
            ProviderCost(
                p, x.total_cost, pct(x.total_cost, whole), x.jobs, x.total_tokens, average(x.total_cost, x.jobs)
            )
            for (p,), x in regroup(models, ("provider_name", "model_name"), ("provider_name",)).items()
        ),
        key=lambda x: (-x.total_cost, -x.jobs, x.provider),
    )
    by_model = sorted(
        (
            ModelCost(m, p, x.total_cost, x.jobs, x.total_tokens, pct(x.total_cost, whole))
            for (p, m), x in models.items()
        ),
        key=lambda x: (-x.cost, -x.jobs, x.model, x.provider),
    )
    per_day = {day_of(d): x for (d,), x in cur["day"].items()}
    daily = sorted((d, x.total_cost) for d, x in per_day.items())
    return CostBreakdown(
        month=f"{m0.year:04d}-{m0.month:02d}",
        start=m0.date(),
        end=(m1 - EPSILON).date(),
        days_elapsed=float(round(elapsed, 2)),
        total_cost=whole,
        jobs=t.jobs,
        tokens=t.total_tokens,
        budget_limit=budget,
        budget_used_percentage=None if budget is None else pct(whole, budget),
        projected_monthly_cost=micro(projected),
        projected_budget_percentage=None if budget is None else pct(projected, budget),
        forecast=_forecast(budget, spent_to_now, daily, now, m0, m1, elapsed),
        budgets=budgets,
        by_provider=tuple(by_provider),
        by_model=tuple(by_model),
        by_brand=tuple(brand_shares(g["by_brand"]["brand"], brands, whole)),
        weeks=_weeks(per_day, m0, m1, now),
        daily=tuple(daily),
        unpriced=Unpriced.of(cur["detail"], DETAIL),
    )


def get_cost_breakdown(
    month: str | None = None,
    brand=None,
    now: datetime | None = None,
    company: str | None = None,
    session: Session | None = None,
    *,
    provider: str | None = None,
) -> dict:
    """One month's costs as the usage spec's dict (see `cost_breakdown`)."""
    return cost_breakdown(month, brand, now, company, session, provider=provider).to_dict()
