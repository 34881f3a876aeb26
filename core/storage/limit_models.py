"""Limits and prices: monthly budgets and quotas per company (and provider), price overrides, and the costs a
provider billed (kept for reconciliation).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.storage.ledger_models import Base, Company
from core.storage.types import Money, UTCDateTime


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
    __table_args__ = (UniqueConstraint("provider", "model_pattern", "effective_from", name="uq_price_overrides_key"),)
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
