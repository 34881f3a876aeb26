"""The usage statistics view (`/ai/usage/stats/`): lifetime totals (up to `now`), the month to date against the whole previous
month, lifetime efficiency figures and top performers.

Top performers, over the lifetime: most efficient = the cheapest model as `core.analytics.model_choice.cheapest` defines
it for Efficiency too (lowest average cost per job among priced models with at least MIN_JOBS priced jobs; a
self-hosted $0 model is never it); fastest = lowest average execution time over its timed calls (a model with
none is not ranked); most used = most calls.
"""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from core.queries.aggregate import aggregate
from core.analytics.common import (
    EPSILON, avg_money, avg_seconds, group, growth, money, rate, scope_filters, totals, unpriced_summary, utc_now,
)
from core.storage.db import read_scope
from core.analytics.model_choice import cheapest, model_costs


def _month(t: dict) -> dict:
    return {"jobs": t["jobs"], "cost": money(t["cost"]), "tokens": t["tokens"]}


def top_performers(df) -> dict:
    """Model names from a frame grouped by provider_name, model_name, pricing_status (+ anything)."""
    out = {"most_efficient_model": None, "fastest_model": None, "most_used_model": None}
    if df.empty:
        return out
    models = group(df, ["provider_name", "model_name"])
    models = models[models["jobs"] > 0]
    cheap = cheapest(model_costs(df).values())
    out["most_efficient_model"] = cheap.model if cheap else None
    timed = [(r.execution_ms / r.timed_jobs, r.model_name) for r in models.itertuples() if r.timed_jobs > 0]
    if timed:
        out["fastest_model"] = min(timed)[1]
    used = sorted(((-int(r.jobs), r.model_name) for r in models.itertuples()))
    out["most_used_model"] = used[0][1]
    return out


def get_usage_stats(now: datetime | None = None, company: str | None = None, session: Session | None = None, *,
                    brand=None, provider: str | None = None) -> dict:
    now = utc_now(now)
    m0 = datetime(now.year, now.month, 1, tzinfo=UTC)
    p0 = datetime(m0.year - (m0.month == 1), (m0.month - 2) % 12 + 1, 1, tzinfo=UTC)
    with read_scope(session) as s:
        filters = scope_filters(s, company=company, brand=brand, provider=provider)
        life = aggregate(s, end=now + EPSILON, dims=["provider_name", "model_name", "pricing_status"],
                         filters=filters)
        cur = aggregate(s, start=m0, end=now + EPSILON, dims=["pricing_status"], filters=filters)
        prev = aggregate(s, start=p0, end=m0, dims=["pricing_status"], filters=filters)
    lt, ct, pt = totals(life), totals(cur), totals(prev)
    priced_tokens = int(life.loc[life["pricing_status"] != "unpriced", "total_tokens"].sum()) if len(life) else 0
    return {
        "lifetime": {"total_jobs": lt["jobs"], "total_cost": money(lt["cost"]), "total_tokens": lt["tokens"],
                     # Per priced token: unpriced calls add tokens but no cost, which would understate the rate.
                     "avg_cost_per_token": round(float(lt["cost"] / priced_tokens), 9) if priced_tokens else 0.0},
        "monthly": {
            "current_month": _month(ct) | {"month": m0.strftime("%Y-%m"), "to": now.date().isoformat()},
            "previous_month": _month(pt) | {"month": p0.strftime("%Y-%m")},
            "growth": {"jobs_percentage": growth(ct["jobs"], pt["jobs"]),
                       "cost_percentage": growth(ct["cost"], pt["cost"]),
                       "tokens_percentage": growth(ct["tokens"], pt["tokens"])},
        },
        "efficiency": {"avg_tokens_per_job": round(lt["tokens"] / lt["jobs"]) if lt["jobs"] else 0,
                       "avg_cost_per_job": avg_money(lt["cost"], lt["jobs"]),
                       "avg_execution_time": avg_seconds(lt["execution_ms"], lt["timed_jobs"]),
                       "success_rate": rate(lt["success_sum"], lt["jobs"])},
        "top_performers": top_performers(life),
        "unpriced": unpriced_summary(life),
        "as_of": now.isoformat(),
    }

