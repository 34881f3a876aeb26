"""Month-to-date spend against budgets and quotas: shared by the alert rules, the probe report and the
budget-aware fallback chain (one definition of "consumed" and "remaining").

Unpriced calls add 0 to the cost consumed but are counted apart (`unpriced_calls`), never taken as free.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import month_start, utc_now
from core.money import ZERO
from core.queries.aggregate import aggregate
from core.storage.db import session_scope
from core.storage.models import Budget, Company, Quota


@dataclass(frozen=True)
class Spend:
    calls: int
    tokens: int
    cost: Decimal
    unpriced_calls: int


def month_to_date(
    session: Session, *, company_id: int | None = None, provider: str | None = None, now: datetime | None = None
) -> Spend:
    """Calls, tokens and cost from the 1st of `now`'s month (UTC) up to `now`."""
    now = utc_now(now)
    filters = {"company_id": company_id, "provider_name": provider or None}
    df = aggregate(session, start=month_start(now), end=now, dims=["pricing_status"], filters=filters)
    if df.empty:
        return Spend(0, 0, ZERO, 0)
    unpriced = int(df.loc[df["pricing_status"] == "unpriced", "jobs"].sum())
    return Spend(int(df["jobs"].sum()), int(df["total_tokens"].sum()), sum(df["total_cost"], ZERO), unpriced)


@dataclass(frozen=True)
class LimitStatus:
    kind: str  # budget | quota_usd | quota_tokens
    company_id: int
    company: str
    provider: str  # "" = every provider
    limit: Decimal  # USD, or tokens for quota_tokens
    consumed: Decimal
    spend: Spend

    @property
    def remaining(self) -> Decimal:
        return self.limit - self.consumed

    @property
    def used_ratio(self) -> Decimal:
        return self.consumed / self.limit if self.limit else Decimal(0)

    @property
    def exhausted(self) -> bool:
        return self.consumed >= self.limit


def limit_statuses(
    session: Session | None = None,
    *,
    company_id: int | None = None,
    provider: str | None = None,
    now: datetime | None = None,
) -> list[LimitStatus]:
    """Every budget and quota (optionally of one company / provider) with its month-to-date consumption.

    A provider-specific query also returns the company-wide budget, which that provider's spend counts toward.
    """
    now = utc_now(now)
    out: list[LimitStatus] = []
    with session_scope(session) as s:
        bq = select(Budget, Company.name).join(Company)
        qq = select(Quota, Company.name).join(Company)
        if company_id is not None:
            bq, qq = bq.where(Budget.company_id == company_id), qq.where(Quota.company_id == company_id)
        if provider:
            bq = bq.where(Budget.provider.in_(["", provider]))
            qq = qq.where(Quota.provider == provider)
        cache: dict[tuple[int, str], Spend] = {}

        def spend(cid: int, prov: str) -> Spend:
            if (cid, prov) not in cache:
                cache[(cid, prov)] = month_to_date(s, company_id=cid, provider=prov or None, now=now)
            return cache[(cid, prov)]

        for b, name in s.execute(bq):
            sp = spend(b.company_id, b.provider)
            out.append(LimitStatus("budget", b.company_id, name, b.provider, b.monthly_usd, sp.cost, sp))
        for q, name in s.execute(qq):
            sp = spend(q.company_id, q.provider)
            if q.monthly_usd is not None:
                out.append(LimitStatus("quota_usd", q.company_id, name, q.provider, q.monthly_usd, sp.cost, sp))
            if q.monthly_tokens is not None:
                out.append(
                    LimitStatus(
                        "quota_tokens",
                        q.company_id,
                        name,
                        q.provider,
                        Decimal(q.monthly_tokens),
                        Decimal(sp.tokens),
                        sp,
                    )
                )
    return out


def exhausted_providers(session: Session | None = None, *, company_id: int, now: datetime | None = None) -> dict:
    """{provider: reason} for providers whose budget or quota is used up this month ("" key: all providers)."""
    out: dict[str, str] = {}
    for st in limit_statuses(session, company_id=company_id, now=now):
        if st.exhausted:
            unit = "tokens" if st.kind == "quota_tokens" else "USD"
            out.setdefault(st.provider, f"{st.kind} exhausted: {st.consumed} of {st.limit} {unit}")
    return out
