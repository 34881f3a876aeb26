"""Alert notifications through apprise (email, Slack, JSON webhooks… one URL scheme each), state kept per channel.

Each channel (core.alerts.channels) gets one message per dispatch listing what it has not taken yet: the new
alerts, the open ones due for a reminder (NOTIFY_REPEAT_HOURS after it was last told) and the ones resolved since
it was told about them (once). An acknowledged alert (core.alerts.ack) gets neither while it is silenced; its
"resolved" message still goes. Critical alerts also go to ADMIN_NOTIFY_URLS. What each channel took is kept per
(alert, channel) in `notify_deliveries`, so a channel that failed never makes the others receive a message twice.

A channel that fails (after its retries, see core.alerts.deliver) is marked failing and tried again after a
back-off (one check interval, doubling up to NOTIFY_REPEAT_HOURS), not at every check; it is ok again as soon as
it takes a message.

Dispatch runs outside the alert-check lock. Concurrent dispatches claim each (alert, channel) with a short lease
(core.alerts.claims), so no message goes twice to a channel. Sending is bounded by NOTIFY_TIMEOUT_SECONDS.

The alerts' own columns summarise the channels: `email_sent` = every channel the alert is addressed to took it,
`last_notified_at` = the last time a channel took it, `notify_error` = the failing channels' errors,
`resolved_notified` = every channel told about the alert was told it was resolved.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.alerts.channels import Channel, channel_status, configured, retry_delay, split_urls
from core.alerts.claims import Job, claim, register_channels, release
from core.alerts.deliver import Delivery, Outcome, deliver, send_many
from core.alerts.findings import provider_label
from core.clock import iso_z
from core.config import Settings, get_settings
from core.display import count, plural, when
from core.redact import redact
from core.storage.db import is_sqlite, session_scope
from core.storage.models import Alert, Company, NotifyChannel, NotifyDelivery

log = logging.getLogger("core.alerts.notify")

__all__ = ["dispatch", "DispatchResult", "deliver", "Delivery", "channel_status", "split_urls"]


@dataclass
class DispatchResult:
    alerts_sent: int = 0  # open alerts (new or reminders) taken by at least one channel
    resolved_sent: int = 0
    messages: int = 0  # messages attempted (one per channel with something due)
    failed: int = 0  # alerts that a channel failed to take (kept for that channel's next attempt)
    errors: list[str] = field(default_factory=list)


def _line(alert: Alert, companies: dict[int, str]) -> str:
    company = companies.get(alert.company_id, "-") if alert.company_id is not None else "-"
    provider = provider_label(alert.provider_name)
    return f"- [{alert.severity}] {alert.alert_type} · {provider} · {company}: {redact(alert.message)} (#{alert.id})"


def _compose(
    new: list[Alert], repeat: list[Alert], resolved: list[Alert], companies: dict[int, str], now: datetime
) -> tuple[str, str]:
    parts = []
    if new:
        parts.append(plural(len(new), "new alert"))
    if repeat:
        parts.append(f"{count(len(repeat))} still open")
    if resolved:
        parts.append(f"{count(len(resolved))} resolved")
    title = "AI Usage Monitor: " + ", ".join(parts)
    lines = [f"AI Usage Monitor — check of {when(now)}", ""]
    if new:
        lines += ["New alerts:"] + [_line(a, companies) for a in new] + [""]
    if repeat:
        lines += ["Still open (reminder):"] + [_line(a, companies) for a in repeat] + [""]
    if resolved:
        lines += (
            ["Resolved:"]
            + [_line(a, companies) + (f" — {redact(a.resolution_note)}" if a.resolution_note else "") for a in resolved]
            + [""]
        )
    lines.append("Resolve from the dashboard's Alerts page or: python -m core alerts resolve ID --note TEXT")
    lines.append("No more reminders for an alert: python -m core alerts ack ID [--until DATE]")
    return title, "\n".join(lines)


def _record(
    s: Session, jobs: list[Job], outcomes: dict[str, Outcome], now: datetime, s_: Settings, holder: str
) -> None:
    """Store each channel's state, then what it took (releasing the claims)."""
    D = NotifyDelivery
    for job in sorted(jobs, key=lambda j: j.channel_id):  # channel rows first, in id order: no lock cycle
        o = outcomes[job.channel.key]
        row = s.get(NotifyChannel, job.channel_id, with_for_update=not is_sqlite(s), populate_existing=True)
        was_failing = row.state == "failing"
        row.last_attempt_at = now
        row.updated_at = now
        if o.ok:
            if was_failing:
                log.info(
                    "notification channel %s (%s) works again after %s failed attempt(s) since %s",
                    job.channel.source,
                    row.label,
                    row.consecutive_failures,
                    iso_z(row.failing_since),
                )
            row.state, row.failing_since, row.consecutive_failures = "ok", None, 0
            row.last_error, row.last_status, row.next_attempt_at, row.last_ok_at = None, None, None, now
        else:
            row.consecutive_failures = (row.consecutive_failures or 0) + 1
            row.state = "failing"
            row.failing_since = row.failing_since or now
            row.last_error, row.last_status = o.error or "delivery failed", o.status
            row.next_attempt_at = now + retry_delay(row.consecutive_failures, s_)
            log.warning(
                "notification channel %s (%s) failing since %s: %s; %s attempt(s)%s; next attempt at %s",
                job.channel.source,
                row.label,
                iso_z(row.failing_since),
                row.last_error,
                o.attempts,
                " (refused: not retried)" if o.permanent else "",
                iso_z(row.next_attempt_at),
            )
    s.flush()
    for job in jobs:
        o = outcomes[job.channel.key]
        error = None if o.ok else (o.error or "delivery failed")
        for alert, kind in [(a, "open") for a in job.new + job.repeat] + [(a, "resolved") for a in job.resolved]:
            values = {
                "attempts": D.attempts + o.attempts,
                "last_error": error,
                "claimed_by": None,
                "claimed_until": None,
            }
            if o.ok and kind == "open":
                values.update(sent_at=func.coalesce(D.sent_at, now), last_sent_at=now)
            elif o.ok:
                values["resolved_sent_at"] = now
            s.execute(
                update(D)
                .where(D.alert_id == alert.id, D.channel_id == job.channel_id, D.claimed_by == holder)
                .values(**values)
                .execution_options(synchronize_session=False)
            )


def _settle(
    s: Session, alert_id: int, channels: list[Channel], ids: dict[str, int], attempts: int, now: datetime
) -> None:
    """Bring one alert's summary columns up to date with its per-channel rows."""
    # FOR NO KEY UPDATE: it does not wait for (nor block) the foreign-key locks of delivery rows being inserted.
    alert = s.get(
        Alert, alert_id, with_for_update={"key_share": True} if not is_sqlite(s) else None, populate_existing=True
    )
    if alert is None:
        return
    rows = {d.channel_id: d for d in s.scalars(select(NotifyDelivery).where(NotifyDelivery.alert_id == alert_id))}
    addressed = [(c, rows.get(ids[c.key])) for c in channels if c.addresses(alert.severity)]
    told = [(c, d) for c, d in addressed if d is not None and d.sent_at is not None]
    alert.notify_attempts = (alert.notify_attempts or 0) + attempts
    errors = [f"{c.source} ({c.label}): {d.last_error}" for c, d in addressed if d is not None and d.last_error]
    alert.notify_error = "; ".join(errors) or None
    if told:
        alert.last_notified_at = max(d.last_sent_at or d.sent_at for _, d in told)
    if alert.is_resolved:  # every channel told of it (configured here or not) was told it is resolved
        alert.resolved_notified = all(d.resolved_sent_at is not None for d in rows.values() if d.sent_at)
        s.flush()
        return
    everyone = bool(addressed) and len(told) == len(addressed)
    if everyone and not alert.email_sent:
        alert.email_sent_at = alert.email_sent_at or now
    alert.email_sent = everyone
    s.flush()


def dispatch(
    session: Session | None = None, *, now: datetime | None = None, settings: Settings | None = None
) -> DispatchResult:
    """Send what each channel is due and record it.

    Without `session`, each step commits on its own (claims before sending, results after), so nothing is
    held while a receiver answers. With a caller's session everything happens in it and the caller commits.
    """
    s_ = settings or get_settings()
    now = now or datetime.now(UTC)
    channels = configured(s_)
    holder = f"dispatch:{uuid.uuid4().hex[:12]}"
    result = DispatchResult()
    with session_scope(session) as s:
        ids = register_channels(s, channels, now) if channels else {}
        jobs = claim(s, channels, ids, now, s_, holder)
        companies = dict(s.execute(select(Company.id, Company.name)).all()) if jobs else {}
    if not jobs:
        return result
    messages = {
        job.channel.key: (job.channel.url, *_compose(job.new, job.repeat, job.resolved, companies, now)) for job in jobs
    }
    try:
        outcomes = send_many(messages, settings=s_)
    except BaseException:  # interrupted (the worker stopping): free the claims, judge no channel
        with session_scope(session) as s:
            release(s, holder)
        raise
    with session_scope(session) as s:
        _record(s, jobs, outcomes, now, s_, holder)
    attempts: dict[int, int] = {}
    for job in jobs:
        o = outcomes[job.channel.key]
        result.messages += 1
        title = messages[job.channel.key][1]
        if o.ok:
            log.info("notification sent to %s (%s): %s", job.channel.source, job.channel.label, redact(title))
        else:
            result.errors.append(f"{job.channel.source} ({job.channel.label}): {o.error or 'delivery failed'}")
        for a in job.alerts:
            attempts[a.id] = attempts.get(a.id, 0) + o.attempts
    sent = {a.id for job in jobs if outcomes[job.channel.key].ok for a in job.new + job.repeat}
    result.alerts_sent = len(sent)
    result.resolved_sent = len({a.id for job in jobs if outcomes[job.channel.key].ok for a in job.resolved})
    result.failed = len({a.id for job in jobs if not outcomes[job.channel.key].ok for a in job.alerts})
    # One short transaction per alert: a check refreshing several alerts at the same time never deadlocks with it.
    for alert_id in sorted(attempts):
        with session_scope(session) as s:
            _settle(s, alert_id, channels, ids, attempts[alert_id], now)
    return result
