"""Prices for whole columns: rates looked up once per (provider, model, day), applied in integer micro-dollars
with the catalog's exact decimal rates and the same rounding as `core.pricing.catalog.apply_rates` (no float touches
money). Days where an override starts, and tiered prices, are priced row by row by the scalar Pricer.
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

import numpy as np
import pandas as pd

from core.pricing.catalog import Pricer
from core.storage.columns import factorize

US_PER_DAY = 86_400_000_000


def _round_half_even(num: np.ndarray, den: int) -> np.ndarray:
    q = num // den
    r2 = (num - q * den) * 2
    return q + ((r2 > den) | ((r2 == den) & (q % 2 == 1)))


def _scaled(value: Decimal | None, fallback: Decimal, exp: int) -> int:
    return int((fallback if value is None else Decimal(value)).scaleb(exp))


class ColumnPrices:
    """Costs for a block of rows, in micro-dollars, the rates looked up once per (provider, model, day)."""

    def __init__(self, pricer: Pricer):
        self.pricer = pricer

    def costs(self, c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(c["provider"])
        ci = np.zeros(n, dtype=np.int64)
        co = np.zeros(n, dtype=np.int64)
        status = np.full(n, "catalog", dtype=object)
        billed = c["billed"]
        day = c["created_at"].astype(np.int64) // US_PER_DAY
        uniq, first, codes = factorize(c["provider"], c["model"], day)
        rates, per_row = [], np.zeros(len(uniq), dtype=bool)
        for k, (provider, model, _) in enumerate(uniq):
            at = pd.Timestamp(c["created_at"][first[k]]).tz_localize(UTC).to_pydatetime()
            # Overrides start at an exact instant: a day where one starts is priced row by row.
            per_row[k] = self.pricer.override_starts_on(provider, at.date())
            rates.append(self.pricer.rates(provider, model, at))
        exp = max(
            [0]
            + [
                -Decimal(v).as_tuple().exponent
                for r in rates
                for v in (r.input, r.output, r.cache_read, r.cache_write)
                if v is not None
            ]
        )
        r_in = np.array([_scaled(r.input, r.input, exp) for r in rates] + [0], dtype=object)
        r_cache = np.array([_scaled(r.cache_read, r.input, exp) for r in rates] + [0], dtype=object)
        r_write = np.array([_scaled(r.cache_write, r.input, exp) for r in rates] + [0], dtype=object)
        r_out = np.array([_scaled(r.output, r.output, exp) for r in rates] + [0], dtype=object)
        kind = np.array([r.status if r.tiered is None else "tiered" for r in rates], dtype=object)
        row_kind = kind[codes]
        scalar = per_row[codes] | (row_kind == "tiered")
        plain = ~billed & ~scalar
        inp, out, cached, write = c["input_tokens"], c["output_tokens"], c["cached_tokens"], c["cache_write_tokens"]
        big = max(int(r_in.max()), int(r_cache.max()), int(r_write.max()), int(r_out.max()), 1)
        den = 10**exp
        if int(max(inp.max(initial=0), out.max(initial=0))) * big * 3 < 2**62:
            as_int = lambda a: a.astype(np.int64)  # noqa: E731
        else:  # products that could overflow int64: exact Python integers, slower but rare
            as_int = lambda a: a.astype(object)  # noqa: E731
        ri, rc, rw, ro = (as_int(a)[codes] for a in (r_in, r_cache, r_write, r_out))
        raw_in = (inp - cached - write) * ri + cached * rc + write * rw
        ci_all = _round_half_even(raw_in, den).astype(np.int64)
        co_all = _round_half_even(out * ro, den).astype(np.int64)
        ci[plain], co[plain] = ci_all[plain], co_all[plain]
        status[plain] = row_kind[plain]
        for i in np.flatnonzero(scalar & ~billed):
            at = pd.Timestamp(c["created_at"][i]).tz_localize(UTC).to_pydatetime()
            cost = self.pricer.price(
                provider=c["provider"][i].as_py(),
                model=c["model"][i].as_py(),
                at=at,
                input_tokens=int(inp[i]),
                output_tokens=int(out[i]),
                cached_tokens=int(cached[i]),
                cache_write_tokens=int(write[i]),
            )
            ci[i], co[i] = int(cost.cost_input.scaleb(6)), int(cost.cost_output.scaleb(6))
            status[i] = cost.pricing_status
        unpriced = plain & (row_kind == "unpriced")
        ci[unpriced] = co[unpriced] = 0
        ci[billed], co[billed] = c["bill_in"][billed], c["bill_out"][billed]
        status[billed] = "billed"
        return ci, co, status
