"""Cached core calls for the pages. Results are the views' typed figures, dicts or strings (never sessions or ORM
objects); the database URL is part of every key so that two databases never share an entry. A short ttl keeps
figures fresh."""

from __future__ import annotations

from datetime import date

import streamlit as st

from core import analytics
from core.config import get_settings
from core.ingest.demo import has_demo_data
from core.storage.db import migrate, session_scope
from core.worker.heartbeat import worker_status

TTL = 60


OVERVIEW_DAYS = 30  # the Overview's period when the link names none (ui.warmup computes that view ahead)


def db_key() -> str:
    return get_settings().database_url


@st.cache_resource(show_spinner=False)
def _migrated(db: str) -> bool:
    migrate(db)
    return True


def migrated() -> bool:
    """The configured database migrated, once per process (the first run, or ui.warmup before it)."""
    return _migrated(db_key())


# The views' typed figures (Decimal money, dates): the pages format them, never parse them back. Every argument is
# named and typed so that the path from a page's filters to the core call can be read here.
@st.cache_data(ttl=TTL, show_spinner=False)
def _overview(
    db: str,
    company: str | None,
    brand: str | None,
    provider: str | None,
    days: int | None,
    start: date | None,
    end: date | None,
) -> analytics.Overview:
    return analytics.overview(
        days=days or OVERVIEW_DAYS, provider=provider, brand=brand, company=company, start=start, end=end
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def _costs(
    db: str, month: str | None, company: str | None, brand: str | None, provider: str | None
) -> analytics.CostBreakdown:
    return analytics.cost_breakdown(month=month, brand=brand, company=company, provider=provider)


@st.cache_data(ttl=TTL, show_spinner=False)
def _budget_status(db: str, company: str | None, provider: str | None) -> analytics.BudgetStatus:
    return analytics.budget_status(company=company, provider=provider)


@st.cache_data(ttl=TTL, show_spinner=False)
def _stats(db: str, company: str | None, brand: str | None, provider: str | None) -> analytics.UsageStats:
    return analytics.usage_stats(company=company, brand=brand, provider=provider)


@st.cache_data(ttl=TTL, show_spinner=False)
def _trends(
    db: str, period: str, metric: str, company: str | None, brand: str | None, provider: str | None
) -> analytics.Trends:
    return analytics.usage_trends(period=period, metric=metric, company=company, brand=brand, provider=provider)


@st.cache_data(ttl=TTL, show_spinner=False)
def _efficiency(
    db: str, days: int, company: str | None, brand: str | None, provider: str | None
) -> analytics.Efficiency:
    return analytics.model_efficiency(days=days, company=company, brand=brand, provider=provider)


@st.cache_data(ttl=TTL, show_spinner=False)
def _options(db: str, company: str | None) -> dict:
    return analytics.filter_options(company=company)


@st.cache_data(ttl=TTL, show_spinner=False)
def _unpriced(db: str, company: str | None) -> list[dict]:
    return analytics.unpriced_models(company=company)


@st.cache_data(ttl=15, show_spinner=False)
def _usage_page(db: str, page: int, page_size: int, ordering: str, company: str | None, filters: tuple) -> dict:
    return analytics.list_usage(page=page, page_size=page_size, ordering=ordering, company=company, **dict(filters))


@st.cache_data(ttl=15, show_spinner=False)
def _status(db: str) -> dict:
    with session_scope() as s:
        demo = has_demo_data(s)
    return {"demo": demo, "worker": worker_status()}


def overview(
    company: str | None,
    brand: str | None,
    provider: str | None,
    *,
    days: int | None = None,
    start: date | None = None,
    end: date | None = None,
) -> analytics.Overview:
    """The Overview's figures for the shared filters and either the last `days` days or start..end (included)."""
    if start is not None or end is not None:
        days = None
    return _overview(db_key(), company, brand, provider, days, start, end)


def costs(month: str | None, company: str | None, brand: str | None, provider: str | None) -> analytics.CostBreakdown:
    return _costs(db_key(), month, company, brand, provider)


def budget_status(company: str | None, provider: str | None) -> analytics.BudgetStatus:
    return _budget_status(db_key(), company, provider)


def stats(company: str | None, brand: str | None, provider: str | None) -> analytics.UsageStats:
    return _stats(db_key(), company, brand, provider)


def trends(period: str, metric: str, company: str | None, brand: str | None, provider: str | None) -> analytics.Trends:
    return _trends(db_key(), period, metric, company, brand, provider)


def efficiency(days: int, company: str | None, brand: str | None, provider: str | None) -> analytics.Efficiency:
    return _efficiency(db_key(), days, company, brand, provider)


def options(company: str | None = None) -> dict:
    return _options(db_key(), company)


def unpriced(company: str | None = None) -> list[dict]:
    return _unpriced(db_key(), company)


def usage_page(page: int, page_size: int, ordering: str, company: str | None, filters: dict) -> dict:
    return _usage_page(db_key(), page, page_size, ordering, company, tuple(sorted(filters.items())))


def usage_detail(usage_id: int, company: str | None = None) -> dict | None:
    # Not cached: one indexed row, and a drill-down should show the record as it is now.
    return analytics.get_usage(usage_id, company=company)


def export_csv(company: str | None, filters: dict, ordering: str | None = None) -> str:
    """The filtered ledger as CSV in the list's order (streamed from the database), with the UTF-8 byte order mark
    a spreadsheet needs to read accents; called on download only."""
    return analytics.export_csv_text(company=company, ordering=ordering, **filters)


def export_focus(month: str, company: str | None) -> str:
    """The month as a FOCUS cost and usage CSV for FinOps tools (read from the daily rollup); called on download
    only."""
    from core.queries.focus_export import export_focus_text

    return export_focus_text(month=month, company=company)


def status() -> dict:
    return _status(db_key())


def clear() -> None:
    """After a write (settings), every cached figure may be stale."""
    st.cache_data.clear()
