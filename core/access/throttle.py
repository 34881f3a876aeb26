"""Sign-in throttling: failures counted per account and per client address, in this process, across every
browser session (a new session, tab or cookie-less client starts with the same count).

After FREE_FAILURES failures within WINDOW seconds, an account or address is locked out for BASE_LOCKOUT
seconds, doubling with each further failure up to MAX_LOCKOUT. A success clears the account's count (not the
address's: one valid account must not reset the guesses made from that address against others).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

FREE_FAILURES = 5
WINDOW = 15 * 60
BASE_LOCKOUT = 2.0
MAX_LOCKOUT = 15 * 60
MAX_KEYS = 50_000  # memory bound against a flood of made-up usernames


class TooManyAttempts(PermissionError):
    def __init__(self, retry_after: float):
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(
            f"Too many failed sign-ins for this account or from this address: try again in {self.retry_after} s."
        )


class LoginThrottle:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        free_failures: int = FREE_FAILURES,
        window: float = WINDOW,
        base_lockout: float = BASE_LOCKOUT,
        max_lockout: float = MAX_LOCKOUT,
    ):
        self.clock = clock
        self.free_failures, self.window = free_failures, window
        self.base_lockout, self.max_lockout = base_lockout, max_lockout
        self._failures: dict[str, list[float]] = {}  # key -> failure times within the window, oldest first
        self._lock = threading.Lock()

    @staticmethod
    def _keys(username: str | None, address: str | None) -> list[str]:
        keys = [f"user:{(username or '').strip().lower()}"]
        if address:
            keys.append(f"addr:{address}")
        return keys

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(key, ()) if now - t < self.window]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def _wait(self, times: list[float], now: float) -> float:
        over = len(times) - self.free_failures
        if over < 0:
            return 0.0
        lockout = min(self.max_lockout, self.base_lockout * 2**over)
        return max(0.0, times[-1] + lockout - now)

    def retry_after(self, username: str | None, address: str | None = None) -> float:
        """Seconds before this account (or this address) may try again; 0 when it may now."""
        now = self.clock()
        with self._lock:
            return max(self._wait(self._recent(k, now), now) for k in self._keys(username, address))

    def check(self, username: str | None, address: str | None = None) -> None:
        wait = self.retry_after(username, address)
        if wait > 0:
            raise TooManyAttempts(wait)

    def failed(self, username: str | None, address: str | None = None) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) >= MAX_KEYS:
                self._prune(now)
            for key in self._keys(username, address):
                # Past MAX_LOCKOUT the count changes nothing: keep only as many failures as reach it.
                self._failures[key] = [*self._recent(key, now), now][-(self.free_failures + 32) :]

    def succeeded(self, username: str | None, address: str | None = None) -> None:
        with self._lock:
            self._failures.pop(self._keys(username, None)[0], None)

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        excess = len(self._failures) - MAX_KEYS + 1
        if excess > 0:  # still full of live entries: forget the stalest
            for key in sorted(self._failures, key=lambda k: self._failures[k][-1])[:excess]:
                del self._failures[key]

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()


THROTTLE = LoginThrottle()
