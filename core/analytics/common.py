"""Shared helpers of the analytics views: scope (company, brand, provider) to rollup filters, money and
percentage arithmetic, period arithmetic, and the unpriced-usage summary every cost figure carries.

The views read grouped sums (`core.queries.grouping`), compute typed results holding Decimal money, and turn them
into the usage spec's JSON-able dicts (money as decimal strings) only in `to_dict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.queries.grouping import Sums
from core.queries.values import brand_ref, day_in_range, name_value
from core.storage.models import Brand, Company

MICRO = Decimal("0.000001")
ZERO = Decimal("0.000000")
# aggregate() takes half-open ranges; views use the closed window [start, now], so a record stamped exactly
# `now` is counted.
EPSILON = timedelta(microseconds=1)
PRICE_HINT = "python -m core price set --provider P --model M --input-per-million X --output-per-million Y"


def price_hint(provider: str, model: str) -> str:
    """The command that prices one model (quoted: fine-tune names hold colons)."""
    return (
        f"python -m core price set --provider {provider} --model '{model}' --input-per-million X "
        "--output-per-million Y --reprice"
    )


def utc_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def midnight(d: date) -> datetime:
    return datetime.combine(d, time.min, UTC)


def micro(value) -> Decimal:
    """A Decimal to the micro-dollar (half to even), as every money figure of a view is."""
    return Decimal(value).quantize(MICRO, rounding=ROUND_HALF_EVEN)


def money(value) -> str | None:
    """Exact 6-decimal string of a Decimal (never a float on the way); None stays None."""
    return None if value is None else str(micro(value))


def average(total: Decimal, count: int) -> Decimal:
    """Average cost to the micro-dollar; zero without a count."""
    return micro(total / count) if count else ZERO


def avg_money(total: Decimal, count: int) -> str:
    return str(average(total, count))


def pct(part, whole) -> float:
    """Share in percent, 1 decimal; 0.0 when the whole is zero."""
    if not whole:
        return 0.0
    return round(float(Decimal(part) * 100 / Decimal(whole)), 1)


def growth(current, previous) -> float | None:
    """Change in percent, 1 decimal; None when there is nothing to compare with (previous is zero, or either
    figure was not measured). Floats (rounded averages) count as the decimals they print as."""
    if not previous or current is None:
        return None
    cur, prev = (Decimal(repr(v)) if isinstance(v, float) else Decimal(v) for v in (current, previous))
    return round(float((cur - prev) * 100 / prev), 1)


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
    rows = session.execute(
        select(Brand.id, Brand.name, Company.name)
        .join(Company, Company.id == Brand.company_id)
        .where(Brand.id.in_(ids))
    )
    return {bid: (bname, cname) for bid, bname, cname in rows}


def company_ids_in_scope(session: Session, company: str | None) -> list[int]:
    q = select(Company.id)
    if company:
        q = q.where(Company.name == name_value("company", company))
    return list(session.scalars(q))


UNPRICED_SET = ("pricing_status", "provider_name", "model_name")  # the grouping set Unpriced.of reads


@dataclass(frozen=True, slots=True)
class UnpricedModel:
    provider: str
    model: str
    jobs: int


@dataclass(frozen=True, slots=True)
class Unpriced:
    """Calls without a known price, per model, most calls first: every cost figure carries it."""

    jobs: int = 0
    models: tuple[UnpricedModel, ...] = ()

    @classmethod
    def of(cls, groups: Mapping[tuple, Sums], dims: tuple[str, ...] | None = None) -> Unpriced:
        """From grouped sums keyed by `dims` (default UNPRICED_SET), which hold pricing_status, provider_name and
        model_name."""
        dims = dims or UNPRICED_SET
        st, pv, md = (dims.index(d) for d in UNPRICED_SET)
        per_model: dict[tuple[str, str], int] = {}
        for key, s in groups.items():
            if key[st] == "unpriced":
                per_model[(key[pv], key[md])] = per_model.get((key[pv], key[md]), 0) + s.jobs
        ranked = sorted(per_model.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls(sum(per_model.values()), tuple(UnpricedModel(p, m, n) for (p, m), n in ranked))

    def to_dict(self) -> dict:
        return {
            "jobs": self.jobs,
            "models": [{"provider": m.provider, "model": m.model, "jobs": m.jobs} for m in self.models],
            "hint": PRICE_HINT,
        }


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
