"""Decimal cost of a usage record: database overrides first, then genai-prices' bundled catalog.

Rules:
- `input_tokens` includes cache reads (`cached_tokens`) and cache writes (`cache_write_tokens`); each part is
  billed at its own rate (cache read / cache write; the input rate where the catalog has none).
- `output_tokens` includes reasoning tokens, billed once, as output.
- Prices are those in force at the record's own timestamp.
- Self-hosted providers (Ollama…) cost $0 unless an override prices them.
- A model nobody prices is `unpriced` (cost 0, counted apart), never silently free.
Catalog look-ups are cached per (provider, model, day): a bulk import prices a million rows with a few hundred.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from genai_prices import Usage as GPUsage
from genai_prices import data_snapshot
from genai_prices import types as gp_types
from sqlalchemy import literal, literal_column, select, true
from sqlalchemy.orm import Session

from core.clock import as_utc
from core.money import ZERO, to_money
from core.storage.db import is_sqlite
from core.storage.models import PriceOverride
from core.storage.one_record import PRICES_DIGEST

MILLION = Decimal(1_000_000)

# Our provider names -> genai-prices provider ids.
CATALOG_PROVIDER = {"gemini": "google", "google": "google", "vertex": "google"}
SELF_HOSTED = frozenset({"ollama", "vllm", "lmstudio", "llamacpp", "llama.cpp", "local", "tgi"})


@functools.cache
def catalog_providers() -> frozenset[str]:
    """Our names of every provider priced here: the catalog's ids, our own names for them, the self-hosted ones."""
    ids = {p.id.lower() for p in data_snapshot.get_snapshot().providers}
    ours = {name for name, catalog_id in CATALOG_PROVIDER.items() if catalog_id in ids}
    return frozenset(ids | ours | SELF_HOSTED)


@dataclass(frozen=True)
class Cost:
    cost_input: Decimal
    cost_output: Decimal
    total_cost: Decimal
    pricing_status: str  # catalog | override | billed | unpriced


@dataclass(frozen=True)
class Rates:
    """USD per million tokens. `tiered` holds a genai-prices ModelPrice whose price depends on request size."""

    status: str
    input: Decimal = ZERO
    output: Decimal = ZERO
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    tiered: gp_types.ModelPrice | None = None


UNPRICED = Rates(status="unpriced")
FREE = Rates(status="catalog")


def billed_cost(cost_input, cost_output) -> Cost:
    ci = to_money(Decimal(cost_input or 0))
    co = to_money(Decimal(cost_output or 0))
    return Cost(ci, co, ci + co, "billed")


def apply_rates(
    rates: Rates, input_tokens: int, output_tokens: int, cached_tokens: int = 0, cache_write_tokens: int = 0
) -> Cost:
    if rates.status == "unpriced":
        return Cost(ZERO, ZERO, ZERO, "unpriced")
    if rates.tiered is not None:
        calc = rates.tiered.calc_price(
            GPUsage(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_read_tokens=cached_tokens or None,
                cache_write_tokens=cache_write_tokens or None,
            )
        )
        ci, co = to_money(calc["input_price"]), to_money(calc["output_price"])
        return Cost(ci, co, ci + co, rates.status)
    plain = input_tokens - cached_tokens - cache_write_tokens
    raw_in = (
        plain * rates.input
        + cached_tokens * (rates.cache_read if rates.cache_read is not None else rates.input)
        + cache_write_tokens * (rates.cache_write if rates.cache_write is not None else rates.input)
    )
    ci = to_money(raw_in / MILLION)
    co = to_money(output_tokens * rates.output / MILLION)
    return Cost(ci, co, ci + co, rates.status)


def catalog_rates(provider: str, model: str, at: datetime) -> Rates:
    """Rates from genai-prices' bundled data (offline) at `at`; UNPRICED when the catalog has no such model."""
    provider = provider.lower()
    if provider in SELF_HOSTED:
        return FREE
    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(
            model, None, CATALOG_PROVIDER.get(provider, provider), None
        )
    except LookupError:
        return UNPRICED
    price = info.get_prices(at)
    values = {k: getattr(price, k, None) for k in ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")}
    if any(isinstance(v, gp_types.TieredPrices) for v in values.values()):
        return Rates(status="catalog", tiered=price)
    if values["input_mtok"] is None and values["output_mtok"] is None:
        return UNPRICED
    return Rates(
        status="catalog",
        input=Decimal(values["input_mtok"] or 0),
        output=Decimal(values["output_mtok"] or 0),
        cache_read=values["cache_read_mtok"],
        cache_write=values["cache_write_mtok"],
    )


_OVERRIDE_COLS = (
    PriceOverride.provider,
    PriceOverride.model_pattern,
    PriceOverride.input_per_million,
    PriceOverride.cached_input_per_million,
    PriceOverride.cache_write_per_million,
    PriceOverride.output_per_million,
    PriceOverride.effective_from,
)
_OVERRIDES = select(*_OVERRIDE_COLS)


@dataclass(frozen=True)
class _OverrideRow:
    provider: str
    model_pattern: str
    input_per_million: Decimal
    cached_input_per_million: Decimal | None
    cache_write_per_million: Decimal | None
    output_per_million: Decimal
    effective_from: datetime


def _override_rates(o) -> Rates:
    return Rates(
        status="override",
        input=o.input_per_million,
        output=o.output_per_million,
        cache_read=o.cached_input_per_million,
        cache_write=o.cache_write_per_million,
    )


_KEPT: dict = {}  # database URL -> the Pricer `Pricer.kept` hands out (PostgreSQL)


class Pricer:
    """Prices records for one session: overrides are read once, catalog rates cached per day."""

    digest: str | None = None  # of the overrides it holds, when read with them (`read`, PostgreSQL)

    @classmethod
    def read(cls, session: Session) -> Pricer:
        """The overrides as this transaction sees them; on PostgreSQL with their digest, in one statement, and kept
        for `kept`."""
        if is_sqlite(session):
            return cls(session)
        one = select(literal(1).label("one")).subquery()
        rows = session.execute(
            select(literal_column(f"({PRICES_DIGEST})"), *_OVERRIDE_COLS).select_from(
                one.outerjoin(PriceOverride, true())
            )
        ).all()
        pricer = cls(overrides=[_OverrideRow(*r[1:]) for r in rows if r[1] is not None])
        pricer.digest = rows[0][0]
        _KEPT[session.get_bind().url] = pricer
        return pricer

    @classmethod
    def kept(cls, session: Session) -> Pricer:
        """The Pricer this process last read from the session's database (no query; its catalog rates cached too),
        for one record whose write checks `digest` in its own statement (core.storage.writer.write_one), and
        prices again with `read` when the overrides changed meanwhile. SQLite: `read`."""
        pricer = None if is_sqlite(session) else _KEPT.get(session.get_bind().url)
        return pricer or cls.read(session)

    def __init__(self, session: Session | None = None, overrides: list[PriceOverride] | None = None):
        if overrides is None:
            # Plain rows, not ORM objects: this runs once per record_usage call.
            overrides = [_OverrideRow(*r) for r in session.execute(_OVERRIDES)] if session is not None else []
        # Newest first, so the first matching override in force wins.
        self._overrides = sorted(overrides, key=lambda o: o.effective_from, reverse=True)
        self._cache: dict[tuple[str, str, date], Rates] = {}
        self._override_days = {(o.provider, o.effective_from.date()) for o in self._overrides}

    def rates(self, provider: str, model: str, at: datetime) -> Rates:
        at = as_utc(at)
        key = (provider, model, at.date())
        rates = self._cache.get(key)
        if rates is None:
            rates = self._lookup(provider, model, at)
            self._cache[key] = rates
        return rates

    def _lookup(self, provider: str, model: str, at: datetime) -> Rates:
        # Overrides change at an exact instant; day-keyed caching is safe only if none starts that day.
        exact = [o for o in self._overrides if o.provider == provider and o.model_pattern == model]
        pattern = [
            o
            for o in self._overrides
            if o.provider == provider and o.model_pattern != model and fnmatch.fnmatchcase(model, o.model_pattern)
        ]
        for candidates in (exact, pattern):
            for o in candidates:
                if o.effective_from <= at:
                    return _override_rates(o)
        return catalog_rates(provider, model, at)

    def override_starts_on(self, provider: str, day: date) -> bool:
        """True when an override of this provider takes effect during `day`: its rates change within the day."""
        return (provider, day) in self._override_days

    def price(
        self,
        *,
        provider: str,
        model: str,
        at: datetime,
        input_tokens: int,
        output_tokens: int,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> Cost:
        at = as_utc(at)
        if self.override_starts_on(provider, at.date()):
            rates = self._lookup(provider, model, at)
        else:
            rates = self.rates(provider, model, at)
        return apply_rates(rates, input_tokens, output_tokens, cached_tokens, cache_write_tokens)


def price_usage(session: Session | None = None, **kwargs) -> Cost:
    """One-off pricing (tests, previews). Keyword arguments as `Pricer.price`."""
    return Pricer(session).price(**kwargs)
