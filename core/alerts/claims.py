"""Which (alert, channel) pairs a dispatch takes: the channels' rows, the delivery rows due for each channel, and
the short leases that keep a message from going twice.

Concurrent dispatches claim each (alert, channel) with a lease (committed before sending; on PostgreSQL the
candidate rows are picked with FOR UPDATE SKIP LOCKED), so no message goes twice to a channel. A dispatcher that
died frees its claims once LEASE_MARGIN_SECONDS past the sending timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session

from core.alerts.ack import is_silenced
from core.alerts.channels import Channel
from core.config import Settings
from core.storage.db import dialect_insert, is_sqlite
from core.storage.models import Alert, NotifyChannel, NotifyDelivery

LEASE_MARGIN_SECONDS = 60  # a claim outlives the longest delivery; a dispatcher that died frees it after this


@dataclass
class Job:
    """What one channel is about to be sent; its (alert, channel) rows are claimed by this dispatcher."""

    channel: Channel
    channel_id: int
    new: list[Alert]
    repeat: list[Alert]
    resolved: list[Alert]

    @property
    def alerts(self) -> list[Alert]:
        return self.new + self.repeat + self.resolved


def register_channels(s: Session, channels: list[Channel], now: datetime) -> dict[str, int]:
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


def claim(
    s: Session, channels: list[Channel], ids: dict[str, int], now: datetime, s_: Settings, holder: str
) -> list[Job]:
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
    jobs: list[Job] = []
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
                Job(
                    c,
                    cid,
                    [a for a in mine_open if a.id in new],
                    [a for a in mine_open if a.id in repeat],
                    [a for a in mine_resolved if a.id in done],
                )
            )
    s.flush()
    return jobs


def release(s: Session, holder: str) -> None:
    s.execute(
        update(NotifyDelivery)
        .where(NotifyDelivery.claimed_by == holder)
        .values(claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
