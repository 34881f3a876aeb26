"""The budget status board: every budget and quota in scope as its own row, worst first.

A sum of the budgets of different companies answers no one's question, so nothing here adds limits up: each
budget (company-wide or one provider's) and each quota (USD, tokens or both) is judged on its own, against the
month-to-date spend it counts (UTC calendar month, the same figures as the alert rules).

- `percentage`: the larger of money used and tokens used, in percent (one decimal).
- `projected_usd`: spend so far / days elapsed (fractional, at least one) x days in the month.
- `runs_out_on`: the day the limit was crossed, or the day it will be at the month's pace so far (money or
  tokens, whichever comes first); None when it holds to the month's end.
- `status`: "ok" under the warning level, then "warning", "critical", "exceeded" — the alert rules' levels
  (ALERT_QUOTA_WARNING / _CRITICAL / _EXCEEDED for quotas, ALERT_COST_WARNING / ALERT_QUOTA_CRITICAL /
  ALERT_COST_EXCEEDED for budgets: 80 %, 95 %, 100 % by default).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.analytics.common import ZERO, micro, money, month_bounds, pct, utc_now
from core.config import get_settings
from core.queries.grouping import VOLUME, Ask, day_of, grouped
from core.storage.db import read_scope
from core.storage.models import Budget, Company, Quota

STATUS_ORDER = {"exceeded": 0, "critical": 1, "warning": 2, "ok": 3}


def _levels(kind: str) -> tuple[Decimal, Decimal, Decimal]:
    s = get_settings()
    if kind == "quota":
        return s.alert_quota_warning, s.alert_quota_critical, s.alert_quota_exceeded
    return s.alert_cost_warning, s.alert_quota_critical, s.alert_cost_exceeded


def _status(kind: str, ratio: Decimal) -> str:
    warning, critical, exceeded = _levels(kind)
    if ratio >= exceeded:
        return "exceeded"
    if ratio >= critical:
        return "critical"
    return "warning" if ratio >= warning else "ok"


def _ratio(spent: Decimal, limit: Decimal | None) -> Decimal | None:
    if limit is None:
        return None
    if limit <= 0:
        return Decimal(1) if spent > 0 else Decimal(0)
    return spent / limit


def _crossed(daily: list[tuple[date, Decimal]], limit: Decimal) -> date | None:
    running = Decimal(0)
    for day, value in daily:
        running += value
        if running >= limit:
            return day
    return None


def _run_out(
    spent: Decimal,
    limit: Decimal | None,
    daily: list[tuple[date, Decimal]],
    now: datetime,
    m1: datetime,
    elapsed_days: Decimal,
) -> date | None:
    """The day `limit` was crossed, or will be at the current pace within this month; else None."""
    if limit is None:
        return None
    if spent >= limit:
        return _crossed(daily, limit) or now.date()
    pace = spent / elapsed_days
    if pace <= 0 or now >= m1:
        return None
    days_left = (limit - spent) / pace
    # Compare in days before building a date: a tiny pace would put the day past year 9999.
    if days_left >= Decimal((m1 - now).total_seconds()) / 86400:
        return None
    return (now + timedelta(days=float(days_left))).date()


def _limits(s: Session, company: str | None, provider: str | None) -> list[tuple]:
    """(kind, company_id, company, provider, limit_usd, limit_tokens) of every budget and quota in scope."""
    bq = select(Budget.company_id, Company.name, Budget.provider, Budget.monthly_usd).join(
        Company, Company.id == Budget.company_id
    )
    qq = select(Quota.company_id, Company.name, Quota.provider, Quota.monthly_usd, Quota.monthly_tokens).join(
        Company, Company.id == Quota.company_id
    )
    if company:
        bq, qq = bq.where(Company.name == company.strip()), qq.where(Company.name == company.strip())
    if provider:
        # A provider's view keeps its own budgets and quotas and the company-wide budgets it counts against.
        bq, qq = bq.where(Budget.provider.in_(["", provider])), qq.where(Quota.provider == provider)
    rows = [("budget", cid, name, prov or None, usd, None) for cid, name, prov, usd in s.execute(bq)]
    rows += [("quota", cid, name, prov, usd, tokens) for cid, name, prov, usd, tokens in s.execute(qq)]
    return rows


@dataclass(frozen=True, slots=True)
class BudgetItem:
    company: str
    provider: str | None  # None: company-wide
    kind: str  # budget, quota
    limit_usd: Decimal | None
    limit_tokens: int | None
    spent_usd: Decimal
    spent_tokens: int
    percentage: float
    projected_usd: Decimal  # to the micro-dollar
    runs_out_on: date | None
    status: str  # ok, warning, critical, exceeded
    unpriced_calls: int

    def to_dict(self) -> dict:
        return {
            "company": self.company,
            "provider": self.provider,
            "kind": self.kind,
            "limit_usd": money(self.limit_usd),
            "limit_tokens": self.limit_tokens,
            "spent_usd": money(self.spent_usd),
            "spent_tokens": self.spent_tokens,
            "percentage": self.percentage,
            "projected_usd": money(self.projected_usd),
            "runs_out_on": None if self.runs_out_on is None else self.runs_out_on.isoformat(),
            "status": self.status,
            "unpriced_calls": self.unpriced_calls,
        }


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    items: tuple[BudgetItem, ...]  # worst first

    @property
    def worst(self) -> BudgetItem | None:
        return self.items[0] if self.items else None

    def to_dict(self) -> dict:
        items = [i.to_dict() for i in self.items]
        return {"budgets": items, "worst": items[0] if items else None}


def budget_status(
    company: str | None = None, provider: str | None = None, now: datetime | None = None, session: Session | None = None
) -> BudgetStatus:
    """Each budget and quota in scope, worst first."""
    now = utc_now(now)
    m0, m1 = month_bounds(None, now)
    provider = (provider or "").strip().lower() or None
    with read_scope(session) as s:
        limits = _limits(s, company, provider)
        ids = sorted({row[1] for row in limits})
        sets = {"days": ("day", "company_id", "provider_name", "pricing_status")}
        g = grouped(s, {"month": Ask(m0, now, sets, {"company_id": ids}, VOLUME)})["month"]["days"] if ids else {}
    # (company_id, provider or None) -> {day: [cost, tokens]}, plus unpriced calls; None = every provider.
    per_day: dict[tuple, dict[date, list]] = defaultdict(lambda: defaultdict(lambda: [ZERO, 0]))
    unpriced: dict[tuple, int] = defaultdict(int)
    for (day, cid, prov, pricing), r in g.items():
        day = day_of(day)
        for key in ((int(cid), prov), (int(cid), None)):
            cell = per_day[key][day]
            cell[0] += r.total_cost
            cell[1] += r.total_tokens
            if pricing == "unpriced":
                unpriced[key] += r.jobs
    elapsed = max(Decimal((now - m0).total_seconds()) / Decimal(86400), Decimal(1))
    days_in_month = Decimal((m1 - m0).days)
    items = []
    for kind, cid, name, prov, limit_usd, limit_tokens in limits:
        days = sorted(per_day.get((cid, prov), {}).items())
        spent_usd = sum((v[0] for _, v in days), ZERO)
        spent_tokens = sum(v[1] for _, v in days)
        ratios = [
            x
            for x in (
                _ratio(spent_usd, limit_usd),
                _ratio(Decimal(spent_tokens), None if limit_tokens is None else Decimal(limit_tokens)),
            )
            if x is not None
        ]
        ratio = max(ratios, default=Decimal(0))
        run_outs = [
            d
            for d in (
                _run_out(spent_usd, limit_usd, [(d, v[0]) for d, v in days], now, m1, elapsed),
                _run_out(
                    Decimal(spent_tokens),
                    None if limit_tokens is None else Decimal(limit_tokens),
                    [(d, Decimal(v[1])) for d, v in days],
                    now,
                    m1,
                    elapsed,
                ),
            )
            if d is not None
        ]
        items.append(
            BudgetItem(
                name,
                prov,
                kind,
                None if limit_usd is None else micro(limit_usd),
                None if limit_tokens is None else int(limit_tokens),
                spent_usd,
                int(spent_tokens),
                pct(ratio, 1),
                micro(spent_usd / elapsed * days_in_month if now < m1 else spent_usd),
                min(run_outs) if run_outs else None,
                _status(kind, ratio),
                unpriced.get((cid, prov), 0),
            )
        )
    items.sort(key=lambda i: (STATUS_ORDER[i.status], -i.percentage, i.company, i.provider or "", i.kind))
    return BudgetStatus(tuple(items))


def get_budget_status(
    company: str | None = None, provider: str | None = None, now: datetime | None = None, session: Session | None = None
) -> dict:
    """{"budgets": [...], "worst": first item or None}: each budget and quota in scope, worst first."""
    return budget_status(company, provider, now, session).to_dict()
