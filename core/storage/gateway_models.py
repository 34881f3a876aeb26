"""The gateway's table: its keys (imported, with every other model, by core.storage.models)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.ledger_models import Base
from core.storage.types import UTCDateTime


class GatewayKey(Base):
    """A key apps send to the gateway (`Authorization: Bearer <key>`); it decides the company and, when set, the
    brand. Only a SHA-256 of the key is stored (the key is shown once, at creation): keys are 256-bit random, so
    a fast hash is as safe as a slow one and costs nothing per request. `key_id` is the key's public part, the
    look-up handle; the secret part is compared in constant time."""

    __tablename__ = "gateway_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    brand: Mapped[str | None] = mapped_column(String(200), nullable=True)  # None: the app's own (service.name…)
    label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    requests_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: no limit
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
