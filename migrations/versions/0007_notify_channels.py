"""notify_channels and notify_deliveries: notification state per channel and per (alert, channel)

A channel that failed made the others receive the same message again at every check, because what was sent was
kept per alert. Each channel now has its state (ok / failing since, back-off) and each (alert, channel) what it
took. Backfill: the channels configured now (NOTIFY_URLS, ADMIN_NOTIFY_URLS) are taken to have received what the
alerts say was sent (`email_sent`), so an upgrade sends nothing twice.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import core.storage.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_key", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("failing_since", core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("next_attempt_at", core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_ok_at", core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel_key"),
    )
    op.create_table(
        "notify_deliveries",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("sent_at", core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_sent_at", core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_sent_at", core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_until", core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["channel_id"], ["notify_channels.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("alert_id", "channel_id"),
    )
    with op.batch_alter_table("notify_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_notify_deliveries_channel", ["channel_id"], unique=False)
    backfill(op.get_bind())


def backfill(conn) -> None:
    """Record the alerts already sent as taken by the channels configured now."""
    from core.alerts.channels import configured

    channels = configured()
    if not channels:
        return
    now = datetime.now(UTC)
    ch = sa.table(
        "notify_channels",
        sa.column("id", sa.Integer()),
        sa.column("channel_key", sa.String()),
        sa.column("label", sa.String()),
        sa.column("source", sa.String()),
        sa.column("state", sa.String()),
        sa.column("consecutive_failures", sa.Integer()),
        sa.column("created_at", core.storage.types.UTCDateTime()),
        sa.column("updated_at", core.storage.types.UTCDateTime()),
    )
    deliveries = sa.table(
        "notify_deliveries",
        sa.column("alert_id", sa.Integer()),
        sa.column("channel_id", sa.Integer()),
        sa.column("sent_at", core.storage.types.UTCDateTime()),
        sa.column("last_sent_at", core.storage.types.UTCDateTime()),
        sa.column("resolved_sent_at", core.storage.types.UTCDateTime()),
        sa.column("attempts", sa.Integer()),
    )
    alerts = sa.table(
        "alerts",
        sa.column("id", sa.Integer()),
        sa.column("severity", sa.String()),
        sa.column("is_resolved", sa.Boolean()),
        sa.column("email_sent", sa.Boolean()),
        sa.column("email_sent_at", core.storage.types.UTCDateTime()),
        sa.column("last_notified_at", core.storage.types.UTCDateTime()),
        sa.column("resolved_notified", sa.Boolean()),
    )
    conn.execute(
        ch.insert(),
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
        ],
    )
    ids = dict(conn.execute(sa.select(ch.c.channel_key, ch.c.id)).all())
    # Open alerts already announced, and resolved ones still owed their "resolved" message.
    sent = conn.execute(
        sa.select(alerts.c.id, alerts.c.severity, alerts.c.email_sent_at, alerts.c.last_notified_at).where(
            alerts.c.email_sent.is_(True),
            sa.or_(alerts.c.is_resolved.is_(False), alerts.c.resolved_notified.is_(False)),
        )
    ).all()
    rows = [
        {
            "alert_id": a.id,
            "channel_id": ids[c.key],
            "sent_at": a.email_sent_at or now,
            "last_sent_at": a.last_notified_at or a.email_sent_at or now,
            "resolved_sent_at": None,
            "attempts": 0,
        }
        for a in sent
        for c in channels
        if c.every_alert or (c.critical and a.severity == "critical")
    ]
    if rows:
        conn.execute(deliveries.insert(), rows)


def downgrade() -> None:
    with op.batch_alter_table("notify_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_notify_deliveries_channel")
    op.drop_table("notify_deliveries")
    op.drop_table("notify_channels")
