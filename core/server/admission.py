"""What the gateway checks before forwarding a request: each key's requests-per-minute allowance (RateLimits) and
each company's used-up budgets and quotas (Budgets, cached and read again in the background)."""

from __future__ import annotations

import asyncio
import math
import time

from core.providers import chain
from core.server.keys import KeyInfo


class Budgets:
    """Each company's used-up budgets and quotas (core.providers.chain.company_exhausted), read in a thread and
    kept `ttl` seconds; a stale entry is served while it is read again."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._cache: dict[str, tuple[float, dict]] = {}
        self._reading: dict[str, asyncio.Future] = {}

    async def get(self, company: str) -> dict:
        hit = self._cache.get(company)
        if hit is not None:
            if hit[0] < time.monotonic() and company not in self._reading:
                self._read(company)
            return hit[1]
        fut = self._reading.get(company) or self._read(company)
        return await asyncio.shield(fut)

    def _read(self, company: str) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, chain.company_exhausted, company)

        def done(f: asyncio.Future) -> None:
            self._reading.pop(company, None)
            if not f.cancelled() and f.exception() is None:
                self._cache[company] = (time.monotonic() + self.ttl, f.result())

        fut.add_done_callback(done)
        self._reading[company] = fut
        return fut


class RateLimits:
    """Requests per minute per key: a token bucket (a burst of the whole minute's allowance, then a steady rate)."""

    def __init__(self):
        self._buckets: dict[str, list[float]] = {}

    def retry_after(self, key: KeyInfo) -> int:
        """0 when the request may go, else the seconds to wait."""
        rpm = key.requests_per_minute
        if not rpm:
            return 0
        now = time.monotonic()
        bucket = self._buckets.get(key.key_id)
        if bucket is None:
            bucket = self._buckets[key.key_id] = [float(rpm), now]
        tokens = min(float(rpm), bucket[0] + (now - bucket[1]) * rpm / 60.0)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0
        bucket[0] = tokens
        return max(1, math.ceil((1.0 - tokens) * 60.0 / rpm))
