"""What the gateway checks before forwarding a request: each key's requests-per-minute allowance (RateLimits) and
each company's used-up budgets and quotas (Budgets, cached and read again in the background)."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import math
import mmap
import os
import struct
import time
from pathlib import Path

from core.providers import chain
from core.server.keys import KeyInfo

log = logging.getLogger(__name__)


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
    """Requests per minute per key: a token bucket (a burst of the whole minute's allowance, then a steady rate).

    The buckets live in this process; when the gateway runs as several processes, in a file they all map
    (`shared`, core.server.admission.SharedBuckets), so that a key gets its allowance once, not once per process."""

    def __init__(self, shared: str | Path | None = None):
        self._buckets: dict[str, list[float]] = {}
        self._shared = SharedBuckets(shared) if shared is not None else None

    def retry_after(self, key: KeyInfo) -> int:
        """0 when the request may go, else the seconds to wait."""
        rpm = key.requests_per_minute
        if not rpm:
            return 0
        now = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process of the machine
        if self._shared is not None:
            wait = self._shared.spend(key.key_id, rpm, now)
            if wait is not None:
                return wait
        bucket = self._buckets.get(key.key_id)
        if bucket is None:
            bucket = self._buckets[key.key_id] = [float(rpm), now]
        bucket[0], bucket[1], wait = spend(bucket[0], bucket[1], rpm, now)
        return wait


def spend(tokens: float, last: float, rpm: int, now: float) -> tuple[float, float, int]:
    """One request against a bucket holding `tokens` at `last`: the bucket after it, and 0 when the request may go
    or the seconds to wait."""
    tokens = min(float(rpm), tokens + (now - last) * rpm / 60.0)
    if tokens >= 1.0:
        return tokens - 1.0, now, 0
    return tokens, now, max(1, math.ceil((1.0 - tokens) * 60.0 / rpm))


class SharedBuckets:
    """Token buckets in a file mapped by every server process: an open-addressed table of SLOTS slots (a key's
    16-byte hash, tokens, last update), read and written under an flock of the file. Keys are few; a full table
    (over SLOTS keys with a limit in one server run) falls back to per-process buckets, with a warning."""

    SLOTS = 4096
    SLOT = struct.Struct("<16sdd")
    EMPTY = bytes(16)

    def __init__(self, path: str | Path):
        size = self.SLOTS * self.SLOT.size
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if os.fstat(self._fd).st_size < size:
            os.ftruncate(self._fd, size)  # zeros: every slot empty (done by each process: the same size each time)
        self._map = mmap.mmap(self._fd, size)
        self._warned = False

    def spend(self, key_id: str, rpm: int, now: float) -> int | None:
        """As `spend` on the key's shared bucket; None when the table is full."""
        tag = hashlib.blake2b(key_id.encode(), digest_size=16).digest()
        start = int.from_bytes(tag[:4], "little") % self.SLOTS
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            for i in range(self.SLOTS):
                offset = ((start + i) % self.SLOTS) * self.SLOT.size
                found, tokens, last = self.SLOT.unpack_from(self._map, offset)
                if found == self.EMPTY:
                    tokens, last = float(rpm), now
                    break
                if found == tag:
                    break
            else:
                if not self._warned:
                    log.warning("gateway: over %d keys with a rate limit; limits now count per process", self.SLOTS)
                    self._warned = True
                return None
            tokens, last, wait = spend(tokens, last, rpm, now)
            self.SLOT.pack_into(self._map, offset, tag, tokens, last)
            return wait
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
