"""Delivery of one message to apprise URLs: attempts with back-off, a deadline, and what each receiver answered.

- A refusal that a retry cannot change (a 4xx other than 408/429, a redirect we do not follow, an invalid URL) is
  not retried; a 5xx, 408, 429, a refused connection or a timeout is, after NOTIFY_RETRY_DELAY_SECONDS doubling at
  each attempt.
- Every attempt to one URL, pauses included, ends within NOTIFY_TIMEOUT_SECONDS; several URLs are sent in parallel,
  so a hanging receiver costs the timeout once, whatever the number of channels.
- The HTTP status comes from apprise's per-attempt log (its webhook plugins log `error=404`): apprise's notify()
  only says True/False.

URLs carry credentials: nothing here logs them, and errors come back redacted.
"""

from __future__ import annotations

import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

import apprise

from core.config import Settings, get_settings
from core.redact import redact

log = logging.getLogger("core.alerts.notify")

RETRYABLE_4XX = frozenset({408, 429})
_STATUS = re.compile(r"\berror=(\d{3})\b")
_GRACE_SECONDS = 1.0  # apprise gives up on a service slightly after its deadline
_MIN_ATTEMPT_SECONDS = 0.05
_SOCKET_SLACK_SECONDS = 0.5  # apprise's own deadline fires first and reports a timeout as such


@dataclass
class Outcome:
    """The result of sending one message to one URL."""

    ok: bool
    attempts: int = 0
    status: int | None = None  # the receiver's last HTTP status, when the plugin reported one
    error: str | None = None  # redacted
    permanent: bool = False  # refused in a way that a retry will not change
    timed_out: bool = False


@dataclass
class Delivery:
    """The result of sending one message to several URLs (ok only when every one took it)."""

    ok: bool
    attempts: int
    error: str | None = None


def is_permanent(status: int | None) -> bool:
    """A 3xx (redirects are never followed) or a 4xx other than 408/429: sending again changes nothing."""
    return status is not None and 300 <= status < 500 and status not in RETRYABLE_4XX


def _failure(result) -> tuple[int | None, str, bool]:
    """(HTTP status, redacted detail, timed out) of a failed apprise notify() call."""
    status, lines, timed_out = None, [], False
    for service in result:
        if service.status == apprise.AppriseResultStatus.TIMEOUT:
            timed_out = True
        for entry in service.logs():
            if entry.level not in ("WARNING", "ERROR", "CRITICAL"):
                continue
            lines.append(entry.message.strip())
            found = _STATUS.search(entry.message)
            if found:
                status = int(found.group(1))
    if result.status == apprise.AppriseResultStatus.TIMEOUT:
        timed_out = True
    return status, redact(" ".join(lines))[:300], timed_out


def send(
    url: str, title: str, body: str, *, settings: Settings | None = None, deadline: float | None = None
) -> Outcome:
    """Send to one URL, retrying what a retry can fix, until it takes the message or `deadline` (monotonic)."""
    s = settings or get_settings()
    deadline = deadline if deadline is not None else time.monotonic() + s.notify_timeout_seconds
    # Never follow redirects: a webhook that answers 3xx must not bounce the alert (and its figures) to another
    # host, whatever `?redirect=` the URL carries.
    ap = apprise.Apprise(asset=apprise.AppriseAsset(http_redirects=False))
    if not ap.add(url):
        return Outcome(False, 0, error="not a valid apprise URL", permanent=True)
    for plugin in ap:
        plugin.redirects = False
    outcome = Outcome(False)
    for attempt in range(1, s.notify_retries + 1):
        remaining = deadline - time.monotonic()
        if remaining < _MIN_ATTEMPT_SECONDS:
            outcome.timed_out = True
            outcome.error = outcome.error or f"no answer within {s.notify_timeout_seconds:g} s"
            break
        for plugin in ap:  # socket timeouts just past apprise's deadline: an abandoned attempt ends soon after
            plugin.socket_connect_timeout = plugin.socket_read_timeout = remaining + _SOCKET_SLACK_SECONDS
        outcome.attempts += 1
        result = ap.notify(title=title, body=body, timeout=remaining)
        if result:
            return Outcome(True, outcome.attempts)
        status, detail, timed_out = _failure(result)
        outcome.status, outcome.timed_out = status, timed_out
        if timed_out:
            outcome.error = f"no answer within {s.notify_timeout_seconds:g} s"
        elif status is not None:
            outcome.error = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
        else:
            outcome.error = detail or "delivery failed"
        if is_permanent(status):
            outcome.permanent = True
            break
        if attempt < s.notify_retries:
            pause = s.notify_retry_delay_seconds * 2 ** (attempt - 1)
            if time.monotonic() + pause + _MIN_ATTEMPT_SECONDS >= deadline:
                break
            time.sleep(pause)
    return outcome


def send_many(jobs: dict, *, settings: Settings | None = None) -> dict:
    """{key: (url, title, body)} -> {key: Outcome}, the URLs in parallel, all within one NOTIFY_TIMEOUT_SECONDS."""
    s = settings or get_settings()
    if not jobs:
        return {}
    deadline = time.monotonic() + s.notify_timeout_seconds

    def run(url: str, title: str, body: str) -> Outcome:
        try:
            return send(url, title, body, settings=s, deadline=deadline)
        except Exception as e:  # noqa: BLE001 - a plugin crash is this channel's failure, not the dispatch's
            return Outcome(False, 1, error=redact(f"{type(e).__name__}: {e}")[:300])

    if len(jobs) == 1:
        ((key, job),) = jobs.items()
        return {key: run(*job)}
    pool = ThreadPoolExecutor(max_workers=min(8, len(jobs)), thread_name_prefix="notify")
    try:
        futures = {key: pool.submit(run, *job) for key, job in jobs.items()}
        wait(futures.values(), timeout=s.notify_timeout_seconds + _GRACE_SECONDS)
        return {
            key: f.result()
            if f.done()
            else Outcome(False, 1, error=f"no answer within {s.notify_timeout_seconds:g} s", timed_out=True)
            for key, f in futures.items()
        }
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def deliver(urls: list[str], title: str, body: str, settings: Settings | None = None) -> Delivery:
    """Send one message to every URL; ok only when all took it. Errors come back redacted ("URL #n: …")."""
    outcomes = send_many({i: (url, title, body) for i, url in enumerate(urls, 1)}, settings=settings)
    errors = [f"URL #{i}: {o.error or 'delivery failed'}" for i, o in sorted(outcomes.items()) if not o.ok]
    return Delivery(not errors, sum(o.attempts for o in outcomes.values()), "; ".join(errors) or None)
