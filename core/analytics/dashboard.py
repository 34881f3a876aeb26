"""The usage dashboard (`/ai/usage/dashboard/`): totals, per provider / model / operation / brand / day, the ten
costliest jobs and quality figures over [now - days, now], with the previous period of the same length for
comparison. `overview` computes it as typed figures (Decimal money, core.analytics.dashboard_figures);
`get_usage_dashboard` is their JSON-able dict."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.analytics.common import (
    EPSILON,
    Unpriced,
    average,
    avg_seconds,
    brand_names,
    company_ids_in_scope,
    midnight,
    pct,
    rate,
    scope_filters,
    utc_now,
)
from core.analytics.dashboard_figures import (
    CostlyJob,
    Day,
    DayProvider,
    ModelShare,
    OperationShare,
    Overview,
    ProviderShare,
    Quality,
    Summary,
    brand_shares,
)
from core.errors import InvalidRecord
from core.queries.costliest import costliest_ids
from core.queries.grouping import TIMING, VOLUME, Ask, day_of, grouped, regroup, total
from core.queries.values import day_in_range
from core.redact import redact
from core.storage.db import read_scope
from core.storage.models import AIJob, AIJobUsage

# The window's grouping sets: operation x brand from the daily rollup by brand and operation, the rest from the one
# by model (each ~10x fewer rows than the rollup of every key); two ranges over the same window in one statement.
# Two sets in the database (each rollup row of the range hashed once per set): the totals, providers, models,
# statuses, unpriced calls and days are summed from their few dozen groups in Python.
DETAIL = ("provider_name", "model_name", "job_status", "pricing_status")
DAY_PROVIDER = ("day", "provider_name")
OP_BRAND = ("operation", "brand_id")
SETS = {"detail": DETAIL, "day_provider": DAY_PROVIDER}
SCOPE_SETS = {"op_brand": OP_BRAND}


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
                "scope": Ask(w0, w1, SCOPE_SETS, filters, VOLUME),
                "previous": Ask(prev0, w0, {"total": ()}, filters, VOLUME + TIMING),
            },
        )
        detail, day_provider, op_brand = g["window"]["detail"], g["window"]["day_provider"], g["scope"]["op_brand"]
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
