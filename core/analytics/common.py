"""Shared helpers of the analytics views: scope (company, brand, provider) to rollup filters, money and
percentage formatting, period arithmetic, and the unpriced-usage summary every cost figure carries.

Everything reads compact grouped frames from `core.queries.aggregate`; nothing here loads ledger rows.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.storage.models import Brand, Company
from core.queries.values import brand_ref, day_in_range, name_value

MICRO = Decimal("0.000001")
ZERO = Decimal("0.000000")
# aggregate() takes half-open ranges; views use the closed window [start, now], so a record stamped exactly
# `now` is counted.
EPSILON = timedelta(microseconds=1)
PRICE_HINT = "python -m core price set --provider P --model M --input-per-million X --output-per-million Y"


def price_hint(provider: str, model: str) -> str:
    """The command that prices one model (quoted: fine-tune names hold colons)."""
    return (f"python -m core price set --provider {provider} --model '{model}' --input-per-million X "
            "--output-per-million Y --reprice")


def utc_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def midnight(d: date) -> datetime:
    return datetime.combine(d, time.min, UTC)


def money(value) -> str:
    """Exact 6-decimal string of a Decimal sum (never a float on the way)."""
    return str(Decimal(value).quantize(MICRO, rounding=ROUND_HALF_EVEN))


def money_sum(series) -> Decimal:
    return sum(series, ZERO)


def avg_money(total: Decimal, count: int) -> str:
    return money(total / count) if count else money(ZERO)


def pct(part, whole) -> float:
    """Share in percent, 1 decimal; 0.0 when the whole is zero."""
    if not whole:
        return 0.0
    return round(float(Decimal(part) * 100 / Decimal(whole)), 1)


def growth(current, previous) -> float | None:
    """Change in percent, 1 decimal; None when there is nothing to compare with (previous is zero, or either
    figure was not measured)."""
    if not previous or current is None:
        return None
    return round(float((Decimal(current) - Decimal(previous)) * 100 / Decimal(previous)), 1)


def avg_seconds(execution_ms: int, timed_jobs: int) -> float | None:
    """Average execution time over the jobs that were timed; None when none was (not measured, not 0 s)."""
    return round(execution_ms / timed_jobs / 1000, 2) if timed_jobs else None


def rate(success_sum: float, jobs: int) -> float:
    return round(success_sum / jobs, 3) if jobs else 0.0


def scope_filters(session: Session, *, company: str | None = None, brand=None, provider: str | None = None) -> dict:
    """Rollup filters for a company name, a brand (id, digit string or name) and a provider.

    An unknown company or brand becomes an empty id list: the view is empty rather than unfiltered. A value no
    column can hold (an id past its range, a control character) raises InvalidRecord before any query.
    """
    filters: dict = {}
    company = name_value("company", company) if company else None
    ref = brand_ref("brand", brand) if brand not in (None, "") else None
    provider = name_value("provider", provider).lower() if provider else None
    if company:
        cid = session.scalar(select(Company.id).where(Company.name == company))
        filters["company_id"] = [cid] if cid is not None else []
    if isinstance(ref, int):
        filters["brand_id"] = [ref]
    elif ref is not None:
        q = select(Brand.id).where(Brand.name == ref)
        if "company_id" in filters:
            q = q.where(Brand.company_id.in_(filters["company_id"]))
        filters["brand_id"] = list(session.scalars(q))
    if provider:
        filters["provider_name"] = provider
    return filters


def brand_names(session: Session, ids) -> dict[int, tuple[str, str]]:
    """{brand id: (brand name, company name)} of the given ids."""
    ids = [int(i) for i in ids]
    if not ids:
        return {}
    rows = session.execute(select(Brand.id, Brand.name, Company.name).join(Company, Company.id == Brand.company_id)
                           .where(Brand.id.in_(ids)))
    return {bid: (bname, cname) for bid, bname, cname in rows}


def company_ids_in_scope(session: Session, company: str | None) -> list[int]:
    q = select(Company.id)
    if company:
        q = q.where(Company.name == name_value("company", company))
    return list(session.scalars(q))


def unpriced_summary(df: pd.DataFrame) -> dict:
    """Calls without a known price in a frame grouped by at least pricing_status, provider_name, model_name."""
    per_model: dict[tuple[str, str], int] = {}
    if not df.empty:
        for status, provider, model, jobs in zip(df["pricing_status"].tolist(), df["provider_name"].tolist(),
                                                 df["model_name"].tolist(), df["jobs"].tolist()):
            if status == "unpriced":
                per_model[(provider, model)] = per_model.get((provider, model), 0) + int(jobs)
    ranked = sorted(per_model.items(), key=lambda kv: (-kv[1], kv[0]))
    models = [{"provider": p, "model": m, "jobs": n} for (p, m), n in ranked]
    return {"jobs": sum(per_model.values()), "models": models, "hint": PRICE_HINT}


def totals(df: pd.DataFrame) -> dict:
    """Summed measures of a frame (any grouping) as exact Python values."""
    if df.empty:
        return {"jobs": 0, "tokens": 0, "cost": ZERO, "execution_ms": 0, "timed_jobs": 0, "success_sum": 0.0}
    return {"jobs": int(df["jobs"].sum()), "tokens": int(df["total_tokens"].sum()),
            "cost": money_sum(df["total_cost"]), "execution_ms": int(df["execution_ms"].sum()),
            "timed_jobs": int(df["timed_jobs"].sum()), "success_sum": float(df["success_sum"].sum())}


GROUP_MEASURES = ("jobs", "total_tokens", "execution_ms", "timed_jobs", "success_sum", "error_count", "total_cost")
_GROUP_TYPES = {"success_sum": "float64", "total_cost": object}


def group(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Re-group a compact frame by fewer keys, groups in order of first appearance; money stays Decimal.

    Summed in plain Python: the frames are a few thousand rows at most, where a pandas groupby (with a Python
    callback for the Decimals) costs several milliseconds per call.
    """
    cols = list(GROUP_MEASURES)
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in keys + cols})
    key_cols = [df[k].tolist() for k in keys]
    acc: dict[tuple, list] = {}
    width = range(len(cols))
    for key, *values in zip(zip(*key_cols), *(df[c].tolist() for c in cols)):
        cur = acc.get(key)
        if cur is None:
            acc[key] = values
        else:
            for i in width:
                cur[i] += values[i]
    values = list(zip(*acc.values()))
    out = {k: np.array(v, dtype=object) for k, v in zip(keys, zip(*acc.keys()))}
    return pd.DataFrame(out | {c: np.array(v, dtype=_GROUP_TYPES.get(c, "int64")) for c, v in zip(cols, values)})


def month_bounds(month: str | None, now: datetime) -> tuple[datetime, datetime]:
    """[first day, first day of next month) of "YYYY-MM" (default: the month of `now`)."""
    if month:
        try:
            y, m = (int(p) for p in str(month).strip().split("-", 1))
            start = datetime(y, m, 1, tzinfo=UTC)
        except (ValueError, TypeError):
            from core.errors import InvalidRecord
            raise InvalidRecord("month", month, "must be YYYY-MM") from None
        day_in_range("month", start, month)
    else:
        start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=UTC)
    return start, end
