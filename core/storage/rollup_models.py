"""The rollup tables: usage_daily, usage_hourly, usage_daily_model and usage_daily_scope, kept in step with the
ledger by core.storage.rollups, and ledger_totals, their lifetime sums the write guard bounds.

Each key column is declared once, on a mixin; `sort_order` keeps every table's primary key in the order
day, [hour,] company, [brand,] provider, model, [operation,] status, pricing status (the order the indexes
and the migrations have). The measures follow the keys.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, Date, Float, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.ledger_models import Base
from core.storage.types import Money


class RollupMeasures:
    """The sums a rollup row holds (shared by the three rollup tables)."""

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


class DayCompanyKeys:
    """The keys every daily rollup starts with."""

    day: Mapped[date] = mapped_column(Date, primary_key=True, sort_order=-9)
    company_id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-7)


class NarrowKeys(DayCompanyKeys):
    """The keys of usage_daily_model: what was called and how it ended."""

    provider_name: Mapped[str] = mapped_column(String(64), primary_key=True, sort_order=-5)
    model_name: Mapped[str] = mapped_column(String(200), primary_key=True, sort_order=-4)
    job_status: Mapped[str] = mapped_column(String(16), primary_key=True, sort_order=-2)
    pricing_status: Mapped[str] = mapped_column(String(16), primary_key=True, sort_order=-1)


class ScopeKeys(DayCompanyKeys):
    """The keys of usage_daily_scope: who (brand) called for what (operation)."""

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-6)
    operation: Mapped[str] = mapped_column(String(200), primary_key=True, sort_order=-3)


class RollupKeys(NarrowKeys, ScopeKeys):
    """The keys of usage_daily and usage_hourly: the narrow ones, brand and operation."""


class UsageDaily(RollupMeasures, RollupKeys, Base):
    """Daily rollup of ai_job_usage, maintained in the same transaction as every insert.

    Money and execution time (milliseconds) are integers on SQLite and NUMERIC on PostgreSQL, so every
    rollup figure is the exact sum of its records; only success_sum is a float (a rate, not money).
    """

    __tablename__ = "usage_daily"
    __table_args__ = (Index("ix_usage_daily_company_day", "company_id", "day"),)


class UsageHourly(RollupMeasures, RollupKeys, Base):
    """usage_daily split by UTC hour of the day (0-23), written in the same transaction (core.storage.rollups).

    Only read for a day that a range cuts (core.queries.aggregate.plan): its whole hours come from here, and at most
    half an hour of raw records, instead of up to half a day of them (~50k rows, ~70 ms at 10M records).
    """

    __tablename__ = "usage_hourly"
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True, sort_order=-8)


class UsageDailyModel(RollupMeasures, NarrowKeys, Base):
    """usage_daily summed over brand and operation, written in the same transaction (core.storage.rollups).

    Brand and operation multiply the rows of a day ~10x; most views group by neither, and read this table.
    """

    __tablename__ = "usage_daily_model"
    __table_args__ = (Index("ix_usage_daily_model_company_day", "company_id", "day"),)


class UsageDailyScope(RollupMeasures, ScopeKeys, Base):
    """usage_daily summed over provider, model and statuses, written in the same transaction
    (core.storage.rollups).

    The breakdowns by brand and by operation read it: a day holds ~20x fewer rows here than in usage_daily.
    """

    __tablename__ = "usage_daily_scope"
    __table_args__ = (Index("ix_usage_daily_scope_company_day", "company_id", "day"),)


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
