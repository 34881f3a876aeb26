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
(committed before sending; on PostgreSQL the candidate rows are picked with FOR UPDATE SKIP LOCKED), so no message
goes twice to a channel. Sending is bounded by NOTIFY_TIMEOUT_SECONDS.

The alerts' own columns summarise the channels: `email_sent` = every channel the alert is addressed to took it,
`last_notified_at` = the last time a channel took it, `notify_error` = the failing channels' errors,
`resolved_notified` = every channel told about the alert was told it was resolved.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session

from core.alerts.ack import is_silenced
from core.alerts.channels import Channel, channel_status, configured, retry_delay, split_urls
from core.alerts.deliver import Delivery, Outcome, deliver, send_many
from core.alerts.rules import provider_label
from core.clock import iso_z
from core.config import Settings, get_settings
from core.display import count, plural, when
from core.redact import redact
from core.storage.db import dialect_insert, is_sqlite, session_scope
from core.storage.models import Alert, Company, NotifyChannel, NotifyDelivery

log = logging.getLogger("core.alerts.notify")

LEASE_MARGIN_SECONDS = 60  # a claim outlives the longest delivery; a dispatcher that died frees it after this

__all__ = ["dispatch", "DispatchResult", "deliver", "Delivery", "channel_status", "split_urls"]


@dataclass
class DispatchResult:
    alerts_sent: int = 0  # open alerts (new or reminders) taken by at least one channel
    resolved_sent: int = 0
    messages: int = 0  # messages attempted (one per channel with something due)
    failed: int = 0  # alerts that a channel failed to take (kept for that channel's next attempt)
    errors: list[str] = field(default_factory=list)


@dataclass
class _Job:
    """What one channel is about to be sent; its (alert, channel) rows are claimed by this dispatcher."""

    channel: Channel
    channel_id: int
    new: list[Alert]
    repeat: list[Alert]
    resolved: list[Alert]

    @property
    def alerts(self) -> list[Alert]:
        return self.new + self.repeat + self.resolved


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


def _register(s: Session, channels: list[Channel], now: datetime) -> dict[str, int]:
    """The channels' rows (created on first use, label kept current): {key: id}."""
    s.execute(
        dialect_insert(s)(NotifyChannel)
        .values(
            [
                {
                    "channel_key": c.key,
                    "label": c.label,
                    "source": c.source,
                    "state": "ok",
                    "consecutive_failures": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for c in channels
            ]
        )
        .on_conflict_do_nothing(index_elements=["channel_key"])
    )
    rows = {
        r.channel_key: r
        for r in s.scalars(select(NotifyChannel).where(NotifyChannel.channel_key.in_([c.key for c in channels])))
    }
    for c in channels:
        row = rows[c.key]
        if (row.label, row.source) != (c.label, c.source):
            row.label, row.source = c.label, c.source
    s.flush()
    return {key: row.id for key, row in rows.items()}


def _owed_resolution(s: Session, alert_ids: list[int]) -> set[int]:
    """Resolved alerts that a channel was told about and not yet told resolved.

    Any channel, configured here or not: a command run without the worker's NOTIFY_URLS must not cancel the
    "resolved" messages the worker's channels are owed."""
    if not alert_ids:
        return set()
    return set(
        s.scalars(
            select(NotifyDelivery.alert_id).where(
                NotifyDelivery.alert_id.in_(alert_ids),
                NotifyDelivery.sent_at.is_not(None),
                NotifyDelivery.resolved_sent_at.is_(None),
            )
        )
    )


def _take(
    s: Session,
    channel_id: int,
    alert_ids: list[int],
    due,
    *,
    holder: str,
    until: datetime,
    clock: datetime,
    now: datetime,
) -> set[int]:
    """Claim the (alert, channel) rows among `alert_ids` that are due and not claimed by someone else."""
    if not alert_ids:
        return set()
    D = NotifyDelivery
    channel_due = exists(
        select(NotifyChannel.id).where(
            NotifyChannel.id == D.channel_id,
            or_(NotifyChannel.next_attempt_at.is_(None), NotifyChannel.next_attempt_at <= now),
        )
    )
    conds = [
        D.channel_id == channel_id,
        D.alert_id.in_(alert_ids),
        *due,
        channel_due,
        or_(D.claimed_until.is_(None), D.claimed_until < clock),
    ]
    if not is_sqlite(s):  # rows another dispatcher is claiming right now are skipped, not waited for
        alert_ids = list(s.scalars(select(D.alert_id).where(*conds).with_for_update(skip_locked=True)))
        if not alert_ids:
            return set()
        conds[1] = D.alert_id.in_(alert_ids)
    taken = s.execute(
        update(D)
        .where(*conds)
        .values(claimed_by=holder, claimed_until=until)
        .returning(D.alert_id)
        .execution_options(synchronize_session=False)
    ).scalars()
    return set(taken)


def _claim(
    s: Session, channels: list[Channel], ids: dict[str, int], now: datetime, s_: Settings, holder: str
) -> list[_Job]:
    clock = datetime.now(UTC)  # leases are about real processes: wall-clock time, whatever `now` says
    until = clock + timedelta(seconds=s_.notify_timeout_seconds + LEASE_MARGIN_SECONDS)
    repeat_before = now - timedelta(hours=s_.notify_repeat_hours)
    D = NotifyDelivery
    open_alerts = list(s.scalars(select(Alert).where(Alert.is_resolved.is_(False)).order_by(Alert.id)))
    resolved = list(
        s.scalars(
            select(Alert).where(Alert.is_resolved.is_(True), Alert.resolved_notified.is_(False)).order_by(Alert.id)
        )
    )
    # A resolved alert that no channel is owed a "resolved" message for (it was never announced, or every channel
    # told of it was told it is resolved) needs nothing more.
    owed = _owed_resolution(s, [a.id for a in resolved])
    for a in resolved:
        if a.id not in owed:
            a.resolved_notified = True
    resolved = [a for a in resolved if a.id in owed]
    # Every (open alert, channel) pair gets its row, in one statement and in alert order: the rows' foreign keys
    # lock the alerts in the order a concurrent check locks them, so the two never deadlock.
    pairs = sorted((a.id, ids[c.key]) for a in open_alerts for c in channels if c.addresses(a.severity))
    if pairs:
        s.execute(
            dialect_insert(s)(D)
            .values([{"alert_id": a, "channel_id": c, "attempts": 0} for a, c in pairs])
            .on_conflict_do_nothing(index_elements=["alert_id", "channel_id"])
        )
    jobs: list[_Job] = []
    # An acknowledged alert sends nothing while silenced (its "resolved" message still goes).
    speaking = [a for a in open_alerts if not is_silenced(a, now)]
    for c in sorted(channels, key=lambda ch: ids[ch.key]):
        cid = ids[c.key]
        mine_open = [a for a in speaking if c.addresses(a.severity)]
        mine_resolved = [a for a in resolved if c.addresses(a.severity)]
        if not (mine_open or mine_resolved):
            continue
        kw = {"holder": holder, "until": until, "clock": clock, "now": now}
        open_ids = [a.id for a in mine_open]
        new = _take(s, cid, open_ids, [D.sent_at.is_(None)], **kw)
        repeat = _take(s, cid, open_ids, [D.sent_at.is_not(None), D.last_sent_at <= repeat_before], **kw)
        done = _take(
            s, cid, [a.id for a in mine_resolved], [D.sent_at.is_not(None), D.resolved_sent_at.is_(None)], **kw
        )
        if new or repeat or done:
            jobs.append(
                _Job(
                    c,
                    cid,
                    [a for a in mine_open if a.id in new],
                    [a for a in mine_open if a.id in repeat],
                    [a for a in mine_resolved if a.id in done],
                )
            )
    s.flush()
    return jobs


def _record(
    s: Session, jobs: list[_Job], outcomes: dict[str, Outcome], now: datetime, s_: Settings, holder: str
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


def _release(s: Session, holder: str) -> None:
    s.execute(
        update(NotifyDelivery)
        .where(NotifyDelivery.claimed_by == holder)
        .values(claimed_by=None, claimed_until=None)
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
        ids = _register(s, channels, now) if channels else {}
        jobs = _claim(s, channels, ids, now, s_, holder)
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
            _release(s, holder)
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
