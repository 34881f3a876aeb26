"""Budgets, quotas and price overrides: validated writes and listings (CLI and Settings page share them).

Every write takes the acting user (`actor=`, default the local operator) and checks it with core.access.users.authorize
before anything is written: a budget or quota needs an admin of its company; a price, which applies to every
company, an admin of all companies. The provider a write names must be known (core.limits.provider_names) unless the
caller passes `allow_new_provider=True`.

Pricing and the rollups (genai-prices, pyarrow) are imported by the reprice alone: listing or setting a limit
does not load them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.access.users import User, authorize
from core.clock import parse_utc
from core.errors import InvalidRecord
from core.fields import count, money, number, text
from core.limits.provider_names import check_provider
from core.storage.bounds import MAX_RECORD_COUNT, MONEY_MAX
from core.storage.db import session_scope
from core.storage.models import AIJobUsage, Budget, Company, PriceOverride, Quota
from core.storage.names import get_or_create_company


def _positive_money(name: str, value) -> Decimal:
    d = money(name, value, MONEY_MAX)
    if d is None:
        raise InvalidRecord(name, value, "is required")
    if d <= 0:
        raise InvalidRecord(name, value, "must be greater than 0")
    return d


def _rate(name: str, value, required: bool = True) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidRecord(name, value, "is required")
        return None
    d = number(name, value)
    if d < 0:
        raise InvalidRecord(name, value, "must not be negative")
    if d > 100000:
        raise InvalidRecord(name, value, "is implausibly large (USD per million tokens)")
    if d != d.quantize(Decimal("0.000001")):
        raise InvalidRecord(name, value, "has more than 6 decimals")
    return d


def _company_id(session: Session, name: str, create: bool = True) -> int:
    name = text("company", name)
    if create:
        return get_or_create_company(session, name)
    cid = session.scalar(select(Company.id).where(Company.name == name))
    if cid is None:
        raise InvalidRecord("company", name, "no such company")
    return cid


def set_budget(
    company: str,
    monthly_usd,
    provider: str | None = None,
    *,
    session: Session | None = None,
    actor: User | None = None,
    allow_new_provider: bool = False,
) -> dict:
    authorize(actor, "set budgets", company=text("company", company))
    amount = _positive_money("monthly_usd", monthly_usd)
    prov = text("provider", provider, default="", max_len=64, lower=True)
    with session_scope(session) as s:
        if prov:
            check_provider(s, prov, allow_new=allow_new_provider)
        cid = _company_id(s, company)
        row = s.scalar(select(Budget).where(Budget.company_id == cid, Budget.provider == prov))
        if row is None:
            row = Budget(company_id=cid, provider=prov, monthly_usd=amount, updated_at=datetime.now(UTC))
            s.add(row)
        else:
            row.monthly_usd, row.updated_at = amount, datetime.now(UTC)
        s.flush()
        return {"company": company.strip(), "provider": prov or None, "monthly_usd": str(amount)}


def delete_budget(
    company: str, provider: str | None = None, *, session: Session | None = None, actor: User | None = None
) -> bool:
    authorize(actor, "delete budgets", company=text("company", company))
    prov = (provider or "").strip().lower()
    with session_scope(session) as s:
        cid = _company_id(s, company, create=False)
        row = s.scalar(select(Budget).where(Budget.company_id == cid, Budget.provider == prov))
        if row is None:
            return False
        s.delete(row)
        return True


def list_budgets(*, company: str | None = None, session: Session | None = None) -> list[dict]:
    with session_scope(session) as s:
        q = select(Budget, Company.name).join(Company).order_by(Company.name, Budget.provider)
        if company:
            q = q.where(Company.name == company)
        return [
            {
                "id": b.id,
                "company": name,
                "provider": b.provider or None,
                "monthly_usd": str(b.monthly_usd),
                "updated_at": b.updated_at.isoformat(),
            }
            for b, name in s.execute(q)
        ]


def set_quota(
    company: str,
    provider: str,
    monthly_usd=None,
    monthly_tokens=None,
    *,
    session: Session | None = None,
    actor: User | None = None,
    allow_new_provider: bool = False,
) -> dict:
    authorize(actor, "set quotas", company=text("company", company))
    prov = text("provider", provider, max_len=64, lower=True)
    usd = None if monthly_usd in (None, "") else _positive_money("monthly_usd", monthly_usd)
    tokens = None
    if monthly_tokens not in (None, ""):
        tokens = count("monthly_tokens", monthly_tokens, maximum=MAX_RECORD_COUNT)
        if tokens == 0:
            raise InvalidRecord("monthly_tokens", monthly_tokens, "must be greater than 0")
    if usd is None and tokens is None:
        raise InvalidRecord("monthly_usd", monthly_usd, "give --monthly-usd and/or --monthly-tokens")
    with session_scope(session) as s:
        check_provider(s, prov, allow_new=allow_new_provider)
        cid = _company_id(s, company)
        row = s.scalar(select(Quota).where(Quota.company_id == cid, Quota.provider == prov))
        if row is None:
            row = Quota(company_id=cid, provider=prov)
            s.add(row)
        row.monthly_usd, row.monthly_tokens, row.updated_at = usd, tokens, datetime.now(UTC)
        s.flush()
        return {
            "company": company.strip(),
            "provider": prov,
            "monthly_usd": None if usd is None else str(usd),
            "monthly_tokens": tokens,
        }


def delete_quota(company: str, provider: str, *, session: Session | None = None, actor: User | None = None) -> bool:
    authorize(actor, "delete quotas", company=text("company", company))
    with session_scope(session) as s:
        cid = _company_id(s, company, create=False)
        row = s.scalar(select(Quota).where(Quota.company_id == cid, Quota.provider == provider.strip().lower()))
        if row is None:
            return False
        s.delete(row)
        return True


def list_quotas(*, company: str | None = None, session: Session | None = None) -> list[dict]:
    with session_scope(session) as s:
        q = select(Quota, Company.name).join(Company).order_by(Company.name, Quota.provider)
        if company:
            q = q.where(Company.name == company)
        return [
            {
                "id": r.id,
                "company": name,
                "provider": r.provider,
                "monthly_usd": None if r.monthly_usd is None else str(r.monthly_usd),
                "monthly_tokens": r.monthly_tokens,
                "updated_at": r.updated_at.isoformat(),
            }
            for r, name in s.execute(q)
        ]


def _effective(value) -> datetime:
    """A date or ISO timestamp (UTC when no offset); may lie in the future (an announced price change)."""
    if value in (None, ""):
        return datetime.now(UTC)
    try:
        return parse_utc(value)
    except ValueError:
        raise InvalidRecord("effective_from", value, "must be a date (YYYY-MM-DD) or ISO 8601 timestamp") from None


def set_price(
    provider: str,
    model: str,
    input_per_million,
    output_per_million,
    cached_input_per_million=None,
    cache_write_per_million=None,
    effective_from=None,
    *,
    reprice: bool = False,
    session: Session | None = None,
    actor: User | None = None,
    allow_new_provider: bool = False,
) -> dict:
    """Add (or replace, same key) a price override. Stored records are repriced only with `reprice=True`."""
    actor = authorize(actor, "set prices", company=None)
    prov = text("provider", provider, max_len=64, lower=True)
    pattern = text("model", model)
    row_values = dict(
        input_per_million=_rate("input_per_million", input_per_million),
        output_per_million=_rate("output_per_million", output_per_million),
        cached_input_per_million=_rate("cached_input_per_million", cached_input_per_million, required=False),
        cache_write_per_million=_rate("cache_write_per_million", cache_write_per_million, required=False),
    )
    eff = _effective(effective_from)
    with session_scope(session) as s:
        check_provider(s, prov, allow_new=allow_new_provider)
        row = s.scalar(
            select(PriceOverride).where(
                PriceOverride.provider == prov,
                PriceOverride.model_pattern == pattern,
                PriceOverride.effective_from == eff,
            )
        )
        if row is None:
            row = PriceOverride(
                provider=prov, model_pattern=pattern, effective_from=eff, created_at=datetime.now(UTC), **row_values
            )
            s.add(row)
        else:
            for k, v in row_values.items():
                setattr(row, k, v)
        s.flush()
        repriced = reprice_usage(s, provider=prov, model_pattern=pattern, since=eff, actor=actor) if reprice else 0
        return {
            "provider": prov,
            "model": pattern,
            "effective_from": eff.isoformat(),
            "repriced": repriced,
            **{k: None if v is None else str(v) for k, v in row_values.items()},
        }


def list_prices(*, session: Session | None = None) -> list[dict]:
    with session_scope(session) as s:
        rows = s.scalars(
            select(PriceOverride).order_by(
                PriceOverride.provider, PriceOverride.model_pattern, PriceOverride.effective_from
            )
        )
        return [
            {
                "id": r.id,
                "provider": r.provider,
                "model": r.model_pattern,
                "input_per_million": str(r.input_per_million),
                "output_per_million": str(r.output_per_million),
                "cached_input_per_million": None
                if r.cached_input_per_million is None
                else str(r.cached_input_per_million),
                "cache_write_per_million": None
                if r.cache_write_per_million is None
                else str(r.cache_write_per_million),
                "effective_from": r.effective_from.isoformat(),
            }
            for r in rows
        ]


def count_repriceable(provider: str, model: str, since, *, session: Session | None = None) -> int:
    """How many stored, non-billed records of this exact model a reprice from `since` would look at."""
    from sqlalchemy import func

    with session_scope(session) as s:
        return (
            s.scalar(
                select(func.count())
                .select_from(AIJobUsage)
                .where(
                    AIJobUsage.provider_name == provider,
                    AIJobUsage.model_name == model,
                    AIJobUsage.created_at >= _effective(since),
                    AIJobUsage.pricing_status != "billed",
                )
            )
            or 0
        )


def reprice_usage(
    session: Session, *, provider: str, model_pattern: str, since: datetime, actor: User | None = None
) -> int:
    """Recompute the cost of stored, non-billed records of provider/model from `since`; keeps rollups exact."""
    authorize(actor, "reprice stored usage", company=None)  # every company's records
    import fnmatch

    from core.pricing.catalog import Pricer
    from core.storage import rollups as rollup

    pricer = Pricer(session)
    q = (
        select(AIJobUsage)
        .where(
            AIJobUsage.provider_name == provider, AIJobUsage.created_at >= since, AIJobUsage.pricing_status != "billed"
        )
        .order_by(AIJobUsage.id)
    )
    changed = 0
    last_id = 0
    deltas: dict = {}  # every batch's, applied once at the end (one rollup.apply per transaction)
    while True:
        batch = list(session.scalars(q.where(AIJobUsage.id > last_id).limit(2000)))
        if not batch:
            rollup.apply(session, deltas)
            return changed
        last_id = batch[-1].id
        old_rows, new_rows = [], []
        for u in batch:
            if not fnmatch.fnmatchcase(u.model_name, model_pattern):
                continue
            cost = pricer.price(
                provider=u.provider_name,
                model=u.model_name,
                at=u.created_at,
                input_tokens=u.input_tokens,
                output_tokens=u.output_tokens,
                cached_tokens=u.cached_tokens,
                cache_write_tokens=u.cache_write_tokens,
            )
            if (cost.total_cost, cost.pricing_status, cost.cost_input) == (
                u.total_cost,
                u.pricing_status,
                u.cost_input,
            ):
                continue
            old_rows.append(rollup.usage_row(u))
            u.cost_input, u.cost_output, u.total_cost = cost.cost_input, cost.cost_output, cost.total_cost
            u.pricing_status = cost.pricing_status
            new_rows.append(rollup.usage_row(u))
            changed += 1
        session.flush()
        rollup.add_into(deltas, rollup.accumulate(old_rows, sign=-1))
        rollup.add_into(deltas, rollup.accumulate(new_rows))
