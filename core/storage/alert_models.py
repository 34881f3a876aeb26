"""Alerts and their notifications: one row per alert, per notification channel, and per (alert, channel) delivery."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.storage.ledger_models import Base, Company
from core.storage.types import Money, UTCDateTime


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_company_created", "company_id", "created_at"),
        Index("ix_alerts_resolved", "is_resolved"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), nullable=True)
    provider_name: Mapped[str] = mapped_column(String(64), default="")
    alert_type: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    threshold_value: Mapped[Decimal] = mapped_column(Money())
    current_value: Mapped[Decimal] = mapped_column(Money())
    message: Mapped[str] = mapped_column(Text)
    is_resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolution_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # "company:provider:type" while open, NULL once resolved: at most one open alert per key, enforced by
    # the database (NULLs never collide in a unique constraint, on SQLite and PostgreSQL alike).
    open_key: Mapped[str | None] = mapped_column(String(400), unique=True, nullable=True)
    email_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    email_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    notify_attempts: Mapped[int] = mapped_column(Integer, default=0)
    notify_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    # Acknowledged: still open (it still resolves by itself), but no more messages while acknowledged — until
    # `snoozed_until` when set, then reminders resume. Kept after resolution as the alert's history.
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    acknowledgement_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    company: Mapped[Company | None] = relationship()


class NotifyChannel(Base):
    """One notification channel (an apprise URL) and whether it takes messages.

    The URL itself is never stored (it carries credentials): `channel_key` is a slow, salted hash of it, and
    `label` a redacted form for display (`json · host:port`). A failing channel is tried again at
    `next_attempt_at` (back-off), not at every check.
    """

    __tablename__ = "notify_channels"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_key: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(200))  # where it is configured: "URL #1", "admin URL #2"
    state: Mapped[str] = mapped_column(String(16), default="ok")  # ok | failing
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)  # redacted
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the receiver's HTTP status
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NotifyDelivery(Base):
    """What one channel was told about one alert: announced (`sent_at`), last reminded, told it was resolved.

    `claimed_by` / `claimed_until` are a short lease taken (and committed) before sending, so two dispatches
    running at once never send the same message to a channel twice.
    """

    __tablename__ = "notify_deliveries"
    __table_args__ = (Index("ix_notify_deliveries_channel", "channel_id"),)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notify_channels.id", ondelete="CASCADE"), primary_key=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)  # redacted
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
