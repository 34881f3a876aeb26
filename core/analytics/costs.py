"""The cost breakdown (`/ai/usage/cost_breakdown/`): one calendar month (UTC) by provider, model and brand, ISO weeks,
the company budget, the month-end projection and the day the budget runs out at the current pace.

Projection rule: for the month in progress, cost so far / days elapsed (fractional, at least one day) x days in the
month; for a finished month, its actual total; for a month not yet started, zero.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.queries.aggregate import aggregate
from core.analytics.common import (
    EPSILON, ZERO, avg_money, brand_names, company_ids_in_scope, group, money, month_bounds, pct, scope_filters,
    totals, unpriced_summary, utc_now,
)
from core.storage.db import read_scope
from core.storage.models import Budget, Company

# Brands are grouped apart: day x model x brand would multiply the rows read for nothing.
DIMS = ["day", "provider_name", "model_name", "pricing_status"]


def _budgets(s: Session, ids: list[int]) -> list[dict]:
    if not ids:
        return []
    q = (select(Budget.provider, Budget.monthly_usd, Company.name).join(Company, Company.id == Budget.company_id)
         .where(Budget.company_id.in_(ids)).order_by(Company.name, Budget.provider))
    return [{"company": c, "provider": p or None, "monthly_usd": money(v)} for p, v, c in s.execute(q)]


def _forecast(budget: Decimal | None, spent_to_now: Decimal, daily: list[tuple], now: datetime,
              m0: datetime, m1: datetime, elapsed_days: Decimal) -> dict:
    """When the budget runs out: the day it was crossed, or the day it will be at the current daily pace."""
    pace = spent_to_now / elapsed_days if elapsed_days > 0 else ZERO
    out = {"status": "no_budget", "runs_out_on": None, "daily_pace": money(pace),
           "remaining": None if budget is None else money(budget - spent_to_now)}
    if budget is None:
        return out
    if spent_to_now >= budget:
        running = ZERO
        for day, cost in daily:
            running += cost
            if running >= budget:
                return out | {"status": "exceeded", "runs_out_on": day.isoformat()}
        return out | {"status": "exceeded", "runs_out_on": m0.date().isoformat()}
    if now >= m1 or pace <= 0:
        return out | {"status": "within_budget"}
    days_left = (budget - spent_to_now) / pace
    # Compare in days before building a date: a tiny pace puts the run-out day past year 9999.
    if days_left >= Decimal((m1 - now).total_seconds()) / 86400:
        return out | {"status": "within_budget"}
    runs_out = now + timedelta(days=float(days_left))
    return out | {"status": "runs_out", "runs_out_on": runs_out.date().isoformat()}


def _weeks(df, m0: datetime, m1: datetime, now: datetime) -> list[dict]:
    """ISO weeks overlapping the month; avg_daily = week cost / days of that week inside the month, up to today."""
    per_day = {r.day: r for r in group(df, ["day"]).itertuples()} if not df.empty else {}
    last_day = (m1 - EPSILON).date()
    out = []
    d = m0.date() - timedelta(days=m0.date().weekday())
    while d <= last_day:
        w0, w1 = max(d, m0.date()), min(d + timedelta(days=6), last_day)
        days = [w0 + timedelta(days=i) for i in range((w1 - w0).days + 1)]
        rows = [per_day[x] for x in days if x in per_day]
        cost = sum((r.total_cost for r in rows), ZERO)
        jobs = sum(int(r.jobs) for r in rows)
        counted = len([x for x in days if x <= now.date()])
        if counted or jobs:
            iso = d.isocalendar()
            out.append({"week": f"{iso.year}-W{iso.week:02d}", "start_date": w0.isoformat(),
                        "end_date": w1.isoformat(), "cost": money(cost), "jobs": jobs,
                        "tokens": sum(int(r.total_tokens) for r in rows),
                        "avg_daily": avg_money(cost, max(counted, 1))})
        d += timedelta(days=7)
    return out


def get_cost_breakdown(month: str | None = None, brand=None, now: datetime | None = None,
                       company: str | None = None, session: Session | None = None, *,
                       provider: str | None = None) -> dict:
    now = utc_now(now)
    m0, m1 = month_bounds(month, now)
    with read_scope(session) as s:
        filters = scope_filters(s, company=company, brand=brand, provider=provider)
        df = aggregate(s, start=m0, end=m1, dims=DIMS, filters=filters)
        by_b = aggregate(s, start=m0, end=m1, dims=["brand_id"], filters=filters) if not df.empty else df
        to_now = df if now >= m1 else aggregate(s, start=m0, end=min(now + EPSILON, m1), dims=["pricing_status"],
                                                filters=filters)
        brands = brand_names(s, by_b["brand_id"].unique()) if not by_b.empty else {}
        in_scope = company_ids_in_scope(s, company)
        budgets = _budgets(s, in_scope)
    t = totals(df)
    total = t["cost"]
    # The headline budget is one company's (adding up different companies' budgets answers no one's question):
    # its company-wide budget, or with a provider filter that provider's own; every budget and quota of the
    # scope is on the budget status board (get_budget_status).
    wanted = (provider or "").strip().lower() or None
    own = [Decimal(b["monthly_usd"]) for b in budgets if b["provider"] == wanted] if len(in_scope) == 1 else []
    budget = own[0] if own else None

    days_in_month = Decimal((m1 - m0).days)
    spent_to_now = totals(to_now)["cost"] if now >= m0 else ZERO
    if now >= m1:
        projected, elapsed = total, days_in_month
    elif now < m0:
        projected, elapsed = ZERO, Decimal(0)
    else:
        elapsed = max(Decimal((now - m0).total_seconds()) / Decimal(86400), Decimal(1))
        projected = spent_to_now / elapsed * days_in_month

    by_provider = [{"provider": r.provider_name, "total_cost": money(r.total_cost),
                    "percentage": pct(r.total_cost, total), "jobs": int(r.jobs), "tokens": int(r.total_tokens),
                    "avg_cost_per_job": avg_money(r.total_cost, int(r.jobs))}
                   for r in group(df, ["provider_name"]).itertuples()]
    by_provider.sort(key=lambda x: (-Decimal(x["total_cost"]), -x["jobs"], x["provider"]))
    by_model = [{"model": r.model_name, "provider": r.provider_name, "cost": money(r.total_cost),
                 "jobs": int(r.jobs), "tokens": int(r.total_tokens), "percentage": pct(r.total_cost, total)}
                for r in group(df, ["provider_name", "model_name"]).itertuples()]
    by_model.sort(key=lambda x: (-Decimal(x["cost"]), -x["jobs"], x["model"]))
    by_brand = []
    for r in group(by_b, ["brand_id"]).itertuples():
        bname, cname = brands.get(int(r.brand_id), (str(r.brand_id), ""))
        by_brand.append({"brand_id": int(r.brand_id), "brand_name": bname, "company": cname,
                         "cost": money(r.total_cost), "jobs": int(r.jobs), "percentage": pct(r.total_cost, total)})
    by_brand.sort(key=lambda x: (-Decimal(x["cost"]), -x["jobs"], x["brand_name"]))

    daily = sorted((r.day, r.total_cost) for r in group(df, ["day"]).itertuples()) if not df.empty else []
    return {
        "period": {"month": f"{m0.year:04d}-{m0.month:02d}", "start_date": m0.date().isoformat(),
                   "end_date": (m1 - EPSILON).date().isoformat(), "days_elapsed": float(round(elapsed, 2))},
        "total_cost": money(total),
        "jobs": t["jobs"],
        "tokens": t["tokens"],
        "budget_limit": None if budget is None else money(budget),
        "budget_used_percentage": None if budget is None else pct(total, budget),
        "projected_monthly_cost": money(projected),
        "projected_budget_percentage": None if budget is None else pct(projected, budget),
        "budget_forecast": _forecast(budget, spent_to_now, daily, now, m0, m1, elapsed),
        "budgets": budgets,
        "by_provider": by_provider,
        "by_model": by_model,
        "by_brand": by_brand,
        "cost_trends": _weeks(df, m0, m1, now),
        "daily": [{"date": d.isoformat(), "cost": money(c)} for d, c in daily],
        "unpriced": unpriced_summary(df),
    }
