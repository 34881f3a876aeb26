"""The analytics views as JSON-able dicts with the usage spec's keys (the contract other parts rely on), plus the small
look-ups the dashboard's filters need. Each view lives in its own module (`dashboard`, `costs`, `stats`, `trends`,
`efficiency`, `budgets`) as a function computing typed figures (dataclasses holding Decimal money: `overview`,
`cost_breakdown`, `usage_stats`, `usage_trends`, `model_efficiency`, `budget_status`, what the pages format) and the
`get_…` function returning their dict; this package re-exports both.

May import: the shared leaves, `storage`, `queries`, `pricing`, `limits`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.analytics.budgets import BudgetItem, BudgetStatus, budget_status, get_budget_status
from core.analytics.common import Unpriced, price_hint, scope_filters
from core.analytics.costs import CostBreakdown, cost_breakdown, get_cost_breakdown
from core.analytics.dashboard import get_usage_dashboard, overview
from core.analytics.dashboard_figures import Overview
from core.analytics.efficiency import Efficiency, get_efficiency, model_efficiency
from core.analytics.efficiency_scores import ModelEfficiency
from core.analytics.stats import UsageStats, get_usage_stats, usage_stats
from core.analytics.trends import Trends, get_usage_trends, usage_trends
from core.queries.aggregate import aggregate
from core.queries.grouping import Ask, grouped
from core.queries.usage_export import export_csv, export_csv_text
from core.queries.usage_list import get_usage, list_usage
from core.queries.values import name_value
from core.storage.db import read_scope
from core.storage.models import Brand, Company

__all__ = [
    "get_usage_dashboard",
    "get_cost_breakdown",
    "get_budget_status",
    "get_usage_stats",
    "get_usage_trends",
    "get_efficiency",
    "overview",
    "cost_breakdown",
    "budget_status",
    "usage_stats",
    "usage_trends",
    "model_efficiency",
    "list_usage",
    "get_usage",
    "export_csv",
    "export_csv_text",
    "filter_options",
    "unpriced_models",
    "Overview",
    "CostBreakdown",
    "BudgetStatus",
    "BudgetItem",
    "UsageStats",
    "Trends",
    "Efficiency",
    "ModelEfficiency",
    "Unpriced",
]


def filter_options(company: str | None = None, session: Session | None = None) -> dict:
    """Companies, brands, providers and models known to the ledger (from the rollup: cheap at any size)."""
    company = name_value("company", company) if company else None
    with read_scope(session) as s:
        companies = list(s.scalars(select(Company.name).order_by(Company.name)))
        bq = (
            select(Brand.id, Brand.name, Company.name)
            .join(Company, Company.id == Brand.company_id)
            .order_by(Company.name, Brand.name)
        )
        if company:
            bq = bq.where(Company.name == company)
        brands = [{"id": i, "name": n, "company": c} for i, n, c in s.execute(bq)]
        ask = Ask(None, None, {"models": ("provider_name", "model_name")}, scope_filters(s, company=company), ())
        pairs = sorted(grouped(s, {"all": ask})["all"]["models"])
    return {
        "companies": companies,
        "brands": brands,
        "providers": sorted({p for p, _ in pairs}),
        "models": [{"provider": p, "model": m} for p, m in pairs],
    }


def unpriced_models(company: str | None = None, session: Session | None = None) -> list[dict]:
    """Every (provider, model) with calls that have no known price, most calls first."""
    with read_scope(session) as s:
        filters = scope_filters(s, company=company) | {"pricing_status": "unpriced"}
        df = aggregate(s, dims=["provider_name", "model_name", "day"], filters=filters)
    if df.empty:
        return []
    # first_seen: a price effective from that day reprices every stored call of the model.
    g = df.groupby(["provider_name", "model_name"], as_index=False).agg(
        jobs=("jobs", "sum"), tokens=("total_tokens", "sum"), first_seen=("day", "min"), last_seen=("day", "max")
    )
    rows = [
        {
            "provider": r.provider_name,
            "model": r.model_name,
            "jobs": int(r.jobs),
            "tokens": int(r.tokens),
            "first_seen": r.first_seen.isoformat(),
            "last_seen": r.last_seen.isoformat(),
            "hint": price_hint(r.provider_name, r.model_name),
        }
        for r in g.itertuples()
    ]
    return sorted(rows, key=lambda r: (-r["jobs"], r["provider"], r["model"]))
