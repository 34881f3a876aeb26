"""Usage dashboard (`/ai/usage/dashboard/`): totals, per provider / model / operation / brand / day, the ten costliest
jobs and quality figures over [now - days, now], with the previous period of the same length for comparison."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.queries.aggregate import aggregate, snapshot_memo
from core.analytics.common import (
    EPSILON, GROUP_MEASURES, avg_money, avg_seconds, brand_names, company_ids_in_scope, group, growth, midnight,
    money, pct, rate, scope_filters, totals, unpriced_summary, utc_now,
)
from core.queries.costliest import costliest_ids
from core.storage.db import read_scope
from core.queries.usage_list import iso_z
from core.storage.models import AIJob, AIJobUsage
from core.queries.values import day_in_range
from core.redact import redact
from core.errors import InvalidRecord

# Three small groupings rather than one over every dimension: the product of all dimensions is ~10k rows a month at
# a million records, and building those rows costs more than two extra indexed queries.
DIMS = ["day", "provider_name", "model_name", "job_status", "pricing_status"]
RAW_DIMS = DIMS + ["operation", "brand_id"]


def _window(days, start, end, now: datetime) -> tuple[datetime, datetime, int]:
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


def _summary(df) -> dict:
    t = totals(df)
    return {"jobs": t["jobs"], "tokens": t["tokens"], "cost": money(t["cost"]),
            "avg_cost_per_job": avg_money(t["cost"], t["jobs"]),
            "avg_execution_time": avg_seconds(t["execution_ms"], t["timed_jobs"])}


def _top_costly(s: Session, start: datetime, end: datetime, filters: dict, limit: int = 10) -> list[dict]:
    # The ids from the cost index (core.queries.costliest: a short index walk per day), then their details: no scan of
    # the range, and no join before the ten rows are known.
    u = AIJobUsage
    conds = [getattr(u, dim).in_(value) if isinstance(value, list) else getattr(u, dim) == value
             for dim, value in filters.items() if value is not None]
    ids = costliest_ids(s, start, end, conds, limit)
    if not ids:
        return []
    q = (select(u.id, u.total_cost, u.total_tokens, u.model_name, u.provider_name, u.created_at, u.job_status,
                AIJob.job_id, AIJob.description, AIJob.operation)
         .join(AIJob, AIJob.id == u.ai_job_id).where(u.id.in_(ids)))
    rows = {r.id: r for r in s.execute(q)}
    return [{"job_id": r.job_id, "cost": money(r.total_cost), "tokens": int(r.total_tokens), "model": r.model_name,
             "provider": r.provider_name,
             "description": None if r.description is None else redact(r.description), "operation": r.operation,
             "status": r.job_status, "usage_id": r.id, "created_at": iso_z(r.created_at)}
            for r in (rows[i] for i in ids if i in rows)]


def get_usage_dashboard(days: int = 30, provider: str | None = None, brand=None, now: datetime | None = None,
                        company: str | None = None, session: Session | None = None, *,
                        start: date | datetime | None = None, end: date | datetime | None = None) -> dict:
    """The main usage dashboard. `start`/`end` (dates, both included) replace `days` for a custom range."""
    now = utc_now(now)
    w0, w1, length = _window(days, start, end, now)
    with read_scope(session) as s:
        filters = scope_filters(s, company=company, brand=brand, provider=provider)
        # The three groupings share their raw reads of partial days (the window's first day is also the previous
        # period's last): read once, grouped by every dimension they need, from one snapshot.
        shared = {"memo": snapshot_memo(s), "raw_dims": RAW_DIMS, "filters": filters, "measures": GROUP_MEASURES}
        df = aggregate(s, start=w0, end=w1, dims=DIMS, **shared)
        # operation x brand is a few dozen rows: one grouping serves both breakdowns.
        ops = aggregate(s, start=w0, end=w1, dims=["operation", "brand_id"], **shared) if not df.empty else df
        # Only its last day can come from the memo: its first is read grouped by pricing status alone.
        prev = aggregate(s, start=w0 - (w1 - w0), end=w0, dims=["pricing_status"], **(shared | {"raw_dims": None}))
        top = _top_costly(s, w0, w1, filters)
        brands = brand_names(s, ops["brand_id"].unique()) if not ops.empty else {}
        in_scope = bool(company_ids_in_scope(s, company))
    t = totals(df)
    cur_summary, prev_summary = _summary(df), _summary(prev)

    by_provider = []
    for r in group(df, ["provider_name"]).itertuples():
        unpriced = int(df.loc[(df.provider_name == r.provider_name) & (df.pricing_status == "unpriced"),
                              "jobs"].sum())
        by_provider.append({"provider": r.provider_name, "jobs": int(r.jobs), "tokens": int(r.total_tokens),
                            "cost": money(r.total_cost), "percentage": pct(r.total_cost, t["cost"]),
                            "jobs_percentage": pct(r.jobs, t["jobs"]),
                            "avg_cost": avg_money(r.total_cost, int(r.jobs)), "unpriced_jobs": unpriced})
    by_provider.sort(key=lambda x: (-_d(x["cost"]), -x["jobs"], x["provider"]))

    by_model = [{"model": r.model_name, "provider": r.provider_name, "jobs": int(r.jobs),
                 "tokens": int(r.total_tokens), "cost": money(r.total_cost),
                 "percentage": pct(r.total_cost, t["cost"]),
                 "avg_tokens": round(int(r.total_tokens) / int(r.jobs)) if r.jobs else 0,
                 "avg_cost": avg_money(r.total_cost, int(r.jobs))}
                for r in group(df, ["provider_name", "model_name"]).itertuples()]
    by_model.sort(key=lambda x: (-_d(x["cost"]), -x["jobs"], x["model"]))

    by_operation = [{"operation": r.operation, "calls": int(r.jobs), "tokens": int(r.total_tokens),
                     "cost": money(r.total_cost), "percentage": pct(r.total_cost, t["cost"])}
                    for r in group(ops, ["operation"]).itertuples()]
    by_operation.sort(key=lambda x: (-_d(x["cost"]), -x["calls"], x["operation"]))

    by_brand = []
    for r in group(ops, ["brand_id"]).itertuples():
        bname, cname = brands.get(int(r.brand_id), (str(r.brand_id), ""))
        by_brand.append({"brand_id": int(r.brand_id), "brand_name": bname, "company": cname, "jobs": int(r.jobs),
                         "tokens": int(r.total_tokens), "cost": money(r.total_cost),
                         "percentage": pct(r.total_cost, t["cost"])})
    by_brand.sort(key=lambda x: (-_d(x["cost"]), -x["jobs"], x["brand_name"]))

    daily = [{"date": r.day.isoformat(), "jobs": int(r.jobs), "cost": money(r.total_cost),
              "tokens": int(r.total_tokens),
              "avg_execution_time": avg_seconds(int(r.execution_ms), int(r.timed_jobs))}
             for r in group(df, ["day"]).itertuples()]
    daily.sort(key=lambda x: x["date"], reverse=True)  # newest first, as the usage spec
    daily_by_provider = [{"date": r.day.isoformat(), "provider": r.provider_name, "jobs": int(r.jobs),
                          "tokens": int(r.total_tokens), "cost": money(r.total_cost)}
                         for r in group(df, ["day", "provider_name"]).itertuples()]
    daily_by_provider.sort(key=lambda x: (x["date"], x["provider"]))

    status_jobs = group(df, ["job_status"]).set_index("job_status")["jobs"] if not df.empty else {}
    quality = {"success_rate": rate(t["success_sum"], t["jobs"]),
               "avg_execution_time": avg_seconds(t["execution_ms"], t["timed_jobs"]),
               "failed_jobs": int(status_jobs.get("failed", 0)),
               "timeout_jobs": int(status_jobs.get("timeout", 0)),
               "error_count": int(df["error_count"].sum()) if not df.empty else 0}

    prev_start = w0 - (w1 - w0)
    return {
        "period": {"days": length, "start_date": w0.date().isoformat(), "end_date": (w1 - EPSILON).date().isoformat(),
                   "start": iso_z(w0), "end": iso_z(w1 - EPSILON)},
        "filters": {"provider": provider or None, "brand": brand if brand not in ("", None) else None,
                    "company": company or None, "company_known": in_scope},
        "totals": cur_summary,
        "comparison": {
            "previous_period": {"start_date": prev_start.date().isoformat(),
                                "end_date": (w0 - EPSILON).date().isoformat(), **prev_summary},
            "change": {"jobs_percentage": growth(cur_summary["jobs"], prev_summary["jobs"]),
                       "tokens_percentage": growth(cur_summary["tokens"], prev_summary["tokens"]),
                       "cost_percentage": growth(_d(cur_summary["cost"]), _d(prev_summary["cost"])),
                       "avg_cost_per_job_percentage": growth(_d(cur_summary["avg_cost_per_job"]),
                                                             _d(prev_summary["avg_cost_per_job"])),
                       "avg_execution_time_percentage": growth(_d(cur_summary["avg_execution_time"]),
                                                               _d(prev_summary["avg_execution_time"]))},
        },
        "by_provider": by_provider,
        "by_model": by_model,
        "by_operation": by_operation,
        "by_brand": by_brand,
        "daily_breakdown": daily,
        "daily_by_provider": daily_by_provider,
        "top_costly_jobs": top,
        "quality_metrics": quality,
        "unpriced": unpriced_summary(df),
    }


def _d(text) -> Decimal | None:
    """A figure as a Decimal; None (not measured) stays None, which `growth` compares with nothing."""
    return None if text is None else Decimal(str(text))
