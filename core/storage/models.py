"""SQLAlchemy 2.x models. Money is `Money` (Decimal, 6 places); timestamps are `UTCDateTime`.

`company_id` sits in every large table so that a distributed engine (Citus) can co-locate by it.
The two large tables (ai_jobs, ai_job_usage) carry no FOREIGN KEY constraints: their per-row triggers cut
COPY throughput by more than half, and the only write path (core.storage.writer) creates the job, its usage row
and their company/brand in one transaction. Relationships are declared with explicit join conditions.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.storage.types import Money, UTCDateTime

JOB_STATUSES = ("completed", "failed", "timeout", "running")
PRICING_STATUSES = ("catalog", "override", "billed", "unpriced")
NO_OPERATION = "unspecified"
DEFAULT_BRAND = "default"


class Base(DeclarativeBase):
    pass


class Company(Base):
    __tablename__ = "companies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    brands: Mapped[list[Brand]] = relationship(back_populates="company")


class Brand(Base):
    __tablename__ = "brands"
    __table_args__ = (UniqueConstraint("company_id", "name", name="uq_brands_company_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    company: Mapped[Company] = relationship(back_populates="brands")


class AIJob(Base):
    __tablename__ = "ai_jobs"
    # Few indexes here: every one costs on ingest, and analytics read ai_job_usage and the rollup.
    __table_args__ = (Index("ix_ai_jobs_request_id", "request_id", sqlite_where=text("request_id IS NOT NULL"),
                            postgresql_where=text("request_id IS NOT NULL")),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(200), unique=True)
    company_id: Mapped[int] = mapped_column(Integer)
    brand_id: Mapped[int] = mapped_column(Integer)
    job_type: Mapped[str] = mapped_column(String(64), default="chat_completion")
    status: Mapped[str] = mapped_column(String(16))
    operation: Mapped[str] = mapped_column(String(200), default=NO_OPERATION)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Where the record came from: api | import | demo | provider_bill | probe
    source: Mapped[str] = mapped_column(String(32), default="api")
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)
    # Attempts of one logical request (fallback chain) share a request_id.
    request_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # sha256 of the normalised record: a replay with the same content is a duplicate, not a conflict.
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    brand: Mapped[Brand] = relationship(primaryjoin="foreign(AIJob.brand_id) == Brand.id", viewonly=True)
    company: Mapped[Company] = relationship(primaryjoin="foreign(AIJob.company_id) == Company.id", viewonly=True)
    usage: Mapped[AIJobUsage | None] = relationship(
        primaryjoin="AIJob.id == foreign(AIJobUsage.ai_job_id)", back_populates="ai_job", uselist=False,
        viewonly=True)


class AIJobUsage(Base):
    __tablename__ = "ai_job_usage"
    __table_args__ = (
        Index("ix_usage_provider_created", "provider_name", "created_at"),
        Index("ix_usage_job_created", "ai_job_id", "created_at"),
        Index("ix_usage_company_created", "company_id", "created_at"),
        # PostgreSQL: BRIN (rows arrive in time order; a B-tree here costs ingest speed for nothing).
        Index("ix_usage_created", "created_at", postgresql_using="brin"),
        # The costliest rows: a plain total_cost index on SQLite; on PostgreSQL one per UTC day, whose inserts
        # stay local (a global cost index takes random inserts); see core/queries/costliest.py and migration 0004.
        Index("ix_usage_total_cost", "total_cost").ddl_if(dialect="sqlite"),
        Index("ix_usage_day_cost", text("((timezone('UTC', created_at))::date)"), "total_cost").ddl_if(
            dialect="postgresql"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ai_job_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), unique=True)
    # Denormalised from the job so that filters and rollups never need a join.
    company_id: Mapped[int] = mapped_column(Integer)
    brand_id: Mapped[int] = mapped_column(Integer)
    job_status: Mapped[str] = mapped_column(String(16))
    operation: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    total_tokens: Mapped[int] = mapped_column(BigInteger)
    cached_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)

    cost_input: Mapped[Decimal] = mapped_column(Money())
    cost_output: Mapped[Decimal] = mapped_column(Money())
    total_cost: Mapped[Decimal] = mapped_column(Money())
    pricing_status: Mapped[str] = mapped_column(String(16))

    # Milliseconds as an integer: sums stay exact in rollups; `execution_time_seconds` is derived. NULL when the
    # call was not timed (or its memory not measured): an average is over the jobs that have the value.
    execution_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    memory_usage_mb: Mapped[int | None] = mapped_column(Integer, nullable=True)
    provider_name: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str] = mapped_column(String(200))
    success_rate: Mapped[float] = mapped_column(Float, default=1.0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    error_class: Mapped[str | None] = mapped_column(String(120), nullable=True)

    ai_job: Mapped[AIJob] = relationship(primaryjoin="foreign(AIJobUsage.ai_job_id) == AIJob.id",
                                         back_populates="usage", viewonly=True)

    @property
    def execution_time_seconds(self) -> float | None:
        return None if self.execution_ms is None else self.execution_ms / 1000

    @property
    def cost_per_token(self) -> float:
        return float(self.total_cost / self.total_tokens) if self.total_tokens else 0.0


class RollupMeasures:
    """The sums a daily rollup row holds (shared by usage_daily and usage_daily_model)."""

    jobs: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    total_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_input: Mapped[Decimal] = mapped_column(Money(), default=0)
    cost_output: Mapped[Decimal] = mapped_column(Money(), default=0)
    total_cost: Mapped[Decimal] = mapped_column(Money(), default=0)
    execution_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    success_sum: Mapped[float] = mapped_column(Float, default=0.0)
    error_count: Mapped[int] = mapped_column(BigInteger, default=0)
    memory_mb: Mapped[int] = mapped_column(BigInteger, default=0)
    # The jobs whose execution time / memory was measured (NULL ones add nothing to execution_ms / memory_mb):
    # the divisors of the averages.
    timed_jobs: Mapped[int] = mapped_column(BigInteger, default=0)
    memory_jobs: Mapped[int] = mapped_column(BigInteger, default=0)


class UsageDaily(RollupMeasures, Base):
    """Daily rollup of ai_job_usage, maintained in the same transaction as every insert.

    Money and execution time (milliseconds) are integers on SQLite and NUMERIC on PostgreSQL, so every
    rollup figure is the exact sum of its records; only success_sum is a float (a rate, not money).
    """

    __tablename__ = "usage_daily"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    company_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(200), primary_key=True)
    job_status: Mapped[str] = mapped_column(String(16), primary_key=True)
    pricing_status: Mapped[str] = mapped_column(String(16), primary_key=True)

    __table_args__ = (Index("ix_usage_daily_company_day", "company_id", "day"),)


class UsageHourly(RollupMeasures, Base):
    """usage_daily split by UTC hour of the day (0-23), written in the same transaction (core.storage.rollups).

    Only read for a day that a range cuts (core.queries.aggregate.plan): its whole hours come from here, and at most half
    an hour of raw records, instead of up to half a day of them (~50k rows, ~70 ms at 10M records).
    """

    __tablename__ = "usage_hourly"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    company_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    operation: Mapped[str] = mapped_column(String(200), primary_key=True)
    job_status: Mapped[str] = mapped_column(String(16), primary_key=True)
    pricing_status: Mapped[str] = mapped_column(String(16), primary_key=True)


class UsageDailyModel(RollupMeasures, Base):
    """usage_daily summed over brand and operation, written in the same transaction (core.storage.rollups).

    Brand and operation multiply the rows of a day ~10x; most views group by neither, and read this table.
    """

    __tablename__ = "usage_daily_model"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    company_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    job_status: Mapped[str] = mapped_column(String(16), primary_key=True)
    pricing_status: Mapped[str] = mapped_column(String(16), primary_key=True)

    __table_args__ = (Index("ix_usage_daily_model_company_day", "company_id", "day"),)


class Budget(Base):
    __tablename__ = "budgets"
    # provider "" means every provider of the company (a NULL would defeat the unique constraint).
    __table_args__ = (UniqueConstraint("company_id", "provider", name="uq_budgets_company_provider"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(64), default="")
    monthly_usd: Mapped[Decimal] = mapped_column(Money())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    company: Mapped[Company] = relationship()


class Quota(Base):
    __tablename__ = "quotas"
    __table_args__ = (UniqueConstraint("company_id", "provider", name="uq_quotas_company_provider"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(64))
    monthly_usd: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    monthly_tokens: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    company: Mapped[Company] = relationship()


class PriceOverride(Base):
    __tablename__ = "price_overrides"
    __table_args__ = (
        UniqueConstraint("provider", "model_pattern", "effective_from", name="uq_price_overrides_key"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    # An exact model name or an fnmatch pattern ("llama*"); an exact name wins over a pattern.
    model_pattern: Mapped[str] = mapped_column(String(200))
    input_per_million: Mapped[Decimal] = mapped_column(Money())
    cached_input_per_million: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    cache_write_per_million: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    output_per_million: Mapped[Decimal] = mapped_column(Money())
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


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
    channel_id: Mapped[int] = mapped_column(ForeignKey("notify_channels.id", ondelete="CASCADE"),
                                            primary_key=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)  # redacted
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

class ProbeRun(Base):
    __tablename__ = "probe_runs"
    __table_args__ = (Index("ix_probe_runs_started", "started_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    ok: Mapped[bool] = mapped_column(Boolean)
    error_class: Mapped[str | None] = mapped_column(String(120), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    served_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    report: Mapped[str | None] = mapped_column(Text, nullable=True)


class WorkerHeartbeat(Base):
    __tablename__ = "worker_heartbeats"
    worker_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_beat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_job: Mapped[str | None] = mapped_column(String(200), nullable=True)


class WorkerState(Base):
    """Small key/value state: last successful probe, demo-data flag…"""

    __tablename__ = "worker_state"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LedgerTotals(Base):
    """One row (id 1): the ledger's lifetime total of each measure the write guard bounds (core/storage/headroom.py),
    money in micro-dollars; changed in the same transaction as the rollups."""

    __tablename__ = "ledger_totals"
    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    total_tokens: Mapped[int] = mapped_column(BigInteger)
    total_cost: Mapped[int] = mapped_column(BigInteger)
    execution_ms: Mapped[int] = mapped_column(BigInteger)
    error_count: Mapped[int] = mapped_column(BigInteger)
    memory_mb: Mapped[int] = mapped_column(BigInteger)


class JobLock(Base):
    """Lease-based lock for SQLite (PostgreSQL uses advisory locks)."""

    __tablename__ = "job_locks"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProviderCost(Base):
    """One line of a provider's billed costs per day (OpenAI Costs API), kept for reconciliation.

    A re-sync replaces a day's lines for its company and provider; `model` and `cost_kind` are parsed from
    `line_item` ("gpt-4o-mini-2024-07-18, input" -> model, "input").
    """

    __tablename__ = "provider_costs"
    __table_args__ = (
        UniqueConstraint("company_id", "provider", "day", "project_id", "line_item", name="uq_provider_costs_key"),
        Index("ix_provider_costs_company_day", "company_id", "day"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    project_id: Mapped[str] = mapped_column(String(200), default="")  # "" when not grouped by project
    line_item: Mapped[str] = mapped_column(String(300), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    cost_kind: Mapped[str] = mapped_column(String(16), default="other")  # input | output | other
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(8), default="usd")
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime())
