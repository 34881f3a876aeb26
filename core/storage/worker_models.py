"""The worker's state: probe runs, heartbeats, small key/value state and the SQLite job locks; and the marks the
probe leaves, which the alert rules read back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.ledger_models import Base
from core.storage.types import UTCDateTime

PROBE_OPERATION = "probe"  # ai_jobs.operation of the probe's own calls
PROBE_BATCH_KEY = "probe.last_batch_started"  # WorkerState: start of the latest probe run (all providers)
PROBE_STOPPED = "ProbeStopped"  # probe_runs.error_class of a run cut off by a stop: no measure of the provider


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


class JobLock(Base):
    """Lease-based lock for SQLite (PostgreSQL uses advisory locks)."""

    __tablename__ = "job_locks"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
