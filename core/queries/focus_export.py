"""The ledger as a FOCUS cost and usage dataset (FinOps Foundation's FOCUS, version FOCUS_VERSION), for FinOps tools.

One row per UTC day x company x brand x operation x provider x model x price (billed, catalog, override,
unpriced) x token direction and cache action: input tokens uncached, read from a cache or written to it, and
output tokens. Read from the daily rollup (usage_daily) one month at a time: one month's rollup groups are in
memory at most, never the ledger's records.

- BilledCost is the ledger's own cost of those records: the provider's bill for rows synced from it
  (pricing_status "billed"), the catalog's (or an override's) price for the estimated ones. The ledger keeps input
  cost as one figure; it is split between uncached, cache-read and cache-write tokens in proportion to their price
  (the rates the record was priced with; the token counts when none is known), the rounding remainder going to the
  largest part, so the rows of a group add up to its cost to the micro-dollar and sum(BilledCost) is the ledger's
  total for the same scope.
- EffectiveCost and ContractedCost equal BilledCost (no commitment to amortise; an override is the contracted
  price). ListUnitPrice is the catalog's public price per PricingUnit ("1000000 Tokens") on that day, empty when the
  catalog has no flat price for the model; ListCost is ListUnitPrice x PricingQuantity, or BilledCost without one.
- SkuPriceDetails holds ModelId, TokenDirection and, on input rows only, TokenCacheAction (the specification omits
  it for tokens generated in a response).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.clock import midnight
from core.errors import InvalidRecord
from core.money import MICRO
from core.pricing.catalog import Pricer, Rates, catalog_rates
from core.queries.aggregate import aggregate
from core.queries.usage_export import safe_cell
from core.redact import redact
from core.storage.db import session_scope
from core.storage.models import Brand, Company, UsageDailyModel

FOCUS_VERSION = "1.5"
COLUMNS = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "BillingCurrency",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeDescription",
    "ConsumedQuantity",
    "ConsumedUnit",
    "PricingQuantity",
    "PricingUnit",
    "ListUnitPrice",
    "ServiceCategory",
    "ServiceSubcategory",
    "ServiceName",
    "ServiceProviderName",
    "SkuId",
    "SkuPriceId",
    "SkuPriceDetails",
    "x_Company",
    "x_Brand",
    "x_Operation",
)
_TEXT = {
    "ChargeDescription",
    "ServiceName",
    "ServiceProviderName",
    "SkuId",
    "SkuPriceId",
    "x_Company",
    "x_Brand",
    "x_Operation",
}
DIMS = ["day", "company_id", "brand_id", "provider_name", "model_name", "operation", "pricing_status"]
MEASURES = ["input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens", "cost_input", "cost_output"]
MILLION = Decimal(1_000_000)
ZERO = Decimal(0)
PROVIDER_NAMES = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "gemini": "Google",
    "google": "Google",
    "mistral": "Mistral AI",
    "ollama": "Ollama",
    "groq": "Groq",
    "deepseek": "DeepSeek",
}
_PRICE = {
    "billed": "billed by {provider}",
    "catalog": "estimated at the catalog's list price",
    "override": "estimated at the configured (contracted) price",
    "unpriced": "not priced: no price list has this model",
}


@dataclass(frozen=True)
class Kind:
    direction: str  # Input | Output
    cache: str | None  # Uncached | Read | Write; None for output tokens
    sku: str  # SkuId suffix
    text: str  # ChargeDescription's start


KINDS = (
    Kind("Input", "Uncached", "input", "Input tokens"),
    Kind("Input", "Read", "cache-read", "Cache read input tokens"),
    Kind("Input", "Write", "cache-write", "Cache write input tokens"),
    Kind("Output", None, "output", "Output tokens"),
)


def month_range(month: str) -> tuple[date, date]:
    """ "YYYY-MM" -> (its first day, the next month's first day); InvalidRecord naming the value otherwise."""
    try:
        y, m = (int(p) for p in month.split("-"))
        first = date(y, m, 1)
    except (ValueError, TypeError):
        raise InvalidRecord("month", month, "expected YYYY-MM (e.g. 2025-03)") from None
    if len(month) != 7:
        raise InvalidRecord("month", month, "expected YYYY-MM (e.g. 2025-03)")
    return first, date(y + (m == 12), m % 12 + 1, 1)


def _months(s: Session, cid: int | None) -> list[tuple[date, date]]:
    """The calendar months from the ledger's first day to its last (in the company's scope)."""
    q = select(func.min(UsageDailyModel.day), func.max(UsageDailyModel.day))
    if cid is not None:
        q = q.where(UsageDailyModel.company_id == cid)
    first, last = s.execute(q).one()
    if first is None:
        return []
    first, last = (date.fromisoformat(d) if isinstance(d, str) else d for d in (first, last))
    out = []
    d0 = first.replace(day=1)
    while d0 <= last:
        d1 = month_range(f"{d0.year:04d}-{d0.month:02d}")[1]
        out.append((d0, d1))
        d0 = d1
    return out


def _money(v: Decimal) -> str:
    return str(v.quantize(MICRO, rounding=ROUND_HALF_EVEN))


def _plain(v: Decimal) -> str:
    """An exact decimal without exponent or trailing zeros ("0.0165", "3", "0.5")."""
    text = format(v, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _unit_prices(rates: Rates) -> list[Decimal | None] | None:
    """USD per million tokens of each kind, from flat rates; None when unpriced or priced by tiers."""
    if rates.status == "unpriced" or rates.tiered is not None:
        return None
    return [
        rates.input,
        rates.input if rates.cache_read is None else Decimal(rates.cache_read),
        rates.input if rates.cache_write is None else Decimal(rates.cache_write),
        rates.output,
    ]


def split_input(cost: Decimal, tokens: list[int], prices: list[Decimal | None] | None) -> list[Decimal]:
    """`cost` over the uncached, read and write tokens, in proportion to their price (their counts without one);
    each part to the micro-dollar, the remainder on the largest, so the parts add up to `cost` exactly."""
    weights = [Decimal(t) * p for t, p in zip(tokens, prices)] if prices else []
    if not weights or sum(weights) <= 0:
        weights = [Decimal(t) for t in tokens]
    total = sum(weights)
    if total <= 0:
        return [cost, ZERO, ZERO]
    parts = [(cost * w / total).quantize(MICRO, rounding=ROUND_HALF_EVEN) for w in weights]
    largest = max(range(3), key=lambda i: weights[i])
    parts[largest] += cost - sum(parts)
    return parts


class _Prices:
    """Catalog (list) and pricing (what the ledger priced with) rates, once per provider, model and day."""

    def __init__(self, s: Session):
        self.pricer = Pricer(s)
        self.cache: dict[tuple, tuple] = {}

    def get(self, provider: str, model: str, day: date) -> tuple[list | None, list | None]:
        key = (provider, model, day)
        if key not in self.cache:
            at = midnight(day)
            self.cache[key] = (
                _unit_prices(catalog_rates(provider, model, at)),
                _unit_prices(self.pricer.rates(provider, model, at)),
            )
        return self.cache[key]


def _rows_of(g, names: dict, brands: dict, prices: _Prices) -> Iterator[dict]:
    """The FOCUS rows of one rollup group (a day, company, brand, operation, provider, model and price)."""
    day = date.fromisoformat(g.day) if isinstance(g.day, str) else g.day
    provider, model, status = g.provider_name, g.model_name, g.pricing_status
    label = PROVIDER_NAMES.get(provider, provider.title())
    uncached = int(g.input_tokens) - int(g.cached_tokens) - int(g.cache_write_tokens)
    tokens = [uncached, int(g.cached_tokens), int(g.cache_write_tokens), int(g.output_tokens)]
    listed, priced = prices.get(provider, model, day)
    # A billed row's input split follows the catalog (the bill's rates are not kept per token kind).
    costs = split_input(g.cost_input, tokens[:3], priced if status != "billed" else listed) + [g.cost_output]
    how = _PRICE.get(status, status).format(provider=label)
    for kind, n, cost, unit in zip(KINDS, tokens, costs, listed or [None] * 4):
        if n == 0 and cost == 0:
            continue
        quantity = Decimal(n) / MILLION
        sku = f"{model}-{kind.sku}"
        details = {"ModelId": model, "TokenDirection": kind.direction}
        if kind.cache:
            details["TokenCacheAction"] = kind.cache
        billed = _money(cost)
        yield {
            "BilledCost": billed,
            "EffectiveCost": billed,
            "ListCost": billed if unit is None else _plain(unit * quantity),
            "ContractedCost": billed,
            "BillingCurrency": "USD",
            "ChargePeriodStart": f"{day.isoformat()}T00:00:00Z",
            "ChargePeriodEnd": f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z",
            "ChargeCategory": "Usage",
            "ChargeDescription": f"{kind.text} for {model} ({how})",
            "ConsumedQuantity": str(n),
            "ConsumedUnit": "Tokens",
            "PricingQuantity": _plain(quantity),
            "PricingUnit": "1000000 Tokens",
            "ListUnitPrice": None if unit is None else _plain(Decimal(unit)),
            "ServiceCategory": "AI and Machine Learning",
            "ServiceSubcategory": "Generative AI",
            "ServiceName": f"{label} API",
            "ServiceProviderName": label,
            "SkuId": sku,
            "SkuPriceId": f"{sku}-{status}",
            "SkuPriceDetails": json.dumps(details, sort_keys=True),
            "x_Company": names.get(g.company_id, str(g.company_id)),
            "x_Brand": brands.get(g.brand_id, str(g.brand_id)),
            "x_Operation": g.operation,
        }


def focus_rows(
    *, month: str | None = None, company: str | None = None, session: Session | None = None
) -> Iterator[dict]:
    """The FOCUS rows of `month` ("YYYY-MM"; None: every month of the ledger) for `company` (None: every company),
    by day, company, provider, model, brand, operation and price."""
    ranges = [month_range(month)] if month else None
    with session_scope(session) as s:
        cid = None
        if company:
            cid = s.scalar(select(Company.id).where(Company.name == company))
            if cid is None:
                return
        names = dict(s.execute(select(Company.id, Company.name)).all())
        brand_q = select(Brand.id, Brand.name)
        brands = dict(s.execute(brand_q if cid is None else brand_q.where(Brand.company_id == cid)).all())
        prices = _Prices(s)
        for d0, d1 in ranges if ranges is not None else _months(s, cid):
            df = aggregate(
                s, start=midnight(d0), end=midnight(d1), dims=DIMS, filters={"company_id": cid}, measures=MEASURES
            )
            if df.empty:
                continue
            df["company"] = df["company_id"].map(names)
            df = df.sort_values(
                ["day", "company", "provider_name", "model_name", "brand_id", "operation", "pricing_status"],
                kind="stable",
            )
            for g in df.itertuples(index=False):
                yield from _rows_of(g, names, brands, prices)


def export_focus(out, *, month: str | None = None, company: str | None = None, session: Session | None = None) -> dict:
    """Write the FOCUS rows as CSV (RFC 4180, header first) to a text stream; returns {"rows", "billed_cost"}."""
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    n, total = 0, ZERO
    cleaned: dict[str, str] = {}  # the same names recur on every row: each is redacted once

    def clean(text: str) -> str:
        # Names a user chose leave redacted, and never as a cell a spreadsheet would run as a formula.
        done = cleaned.get(text)
        if done is None:
            done = cleaned[text] = safe_cell(redact(text))
        return done

    for row in focus_rows(month=month, company=company, session=session):
        writer.writerow([clean(row[c]) if c in _TEXT else row[c] for c in COLUMNS])
        n += 1
        total += Decimal(row["BilledCost"])
    return {"rows": n, "billed_cost": _money(total)}


def export_focus_text(**kwargs) -> str:
    """The FOCUS export as one text (a download)."""
    buf = io.StringIO()
    export_focus(buf, **kwargs)
    return buf.getvalue()
