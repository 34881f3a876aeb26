"""The ledger: companies, brands, and the two large tables, ai_jobs and ai_job_usage (one row each per recorded
call). Money is `Money` (Decimal, 6 places); timestamps are `UTCDateTime`. `Base` is every model's.

`company_id` sits in every large table so that a distributed engine (Citus) can co-locate by it.
The two large tables (ai_jobs, ai_job_usage) carry no FOREIGN KEY constraints: their per-row triggers cut
COPY throughput by more than half, and the only write path (core.ingest.record.ingest) creates the job, its usage row
and their company/brand in one transaction. Relationships are declared with explicit join conditions.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
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
    __table_args__ = (
        Index(
            "ix_ai_jobs_request_id",
            "request_id",
            sqlite_where=text("request_id IS NOT NULL"),
            postgresql_where=text("request_id IS NOT NULL"),
        ),
        # The few jobs imported from a provider's bill (reconciliation subtracts them).
        Index(
            "ix_ai_jobs_provider_bill",
            "id",
            sqlite_where=text("source = 'provider_bill'"),
            postgresql_where=text("source = 'provider_bill'"),
        ),
    )
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
        primaryjoin="AIJob.id == foreign(AIJobUsage.ai_job_id)", back_populates="ai_job", uselist=False, viewonly=True
    )


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
            dialect="postgresql"
        ),
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

    ai_job: Mapped[AIJob] = relationship(
        primaryjoin="foreign(AIJobUsage.ai_job_id) == AIJob.id", back_populates="usage", viewonly=True
    )

    @property
    def execution_time_seconds(self) -> float | None:
        return None if self.execution_ms is None else self.execution_ms / 1000

    @property
    def cost_per_token(self) -> float:
        return float(self.total_cost / self.total_tokens) if self.total_tokens else 0.0
