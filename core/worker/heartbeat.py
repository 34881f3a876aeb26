"""Worker heartbeat: written every cycle by the worker, read by the dashboard ("worker stale")."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.clock import as_utc
from core.config import get_settings
from core.storage.db import session_scope
from core.storage.models import WorkerHeartbeat


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(
    *, started_at: datetime, last_job: str | None = None, now: datetime | None = None, session: Session | None = None
) -> None:
    now = now or datetime.now(UTC)
    with session_scope(session) as s:
        s.merge(
            WorkerHeartbeat(
                worker_id=worker_id(),
                hostname=socket.gethostname(),
                pid=os.getpid(),
                started_at=started_at,
                last_beat_at=now,
                last_job=last_job,
            )
        )


def worker_status(now: datetime | None = None, session: Session | None = None) -> dict:
    """{"state": "ok" | "stale" | "never", "last_beat_at", "age_seconds", "threshold_seconds"}.

    Stale when the newest heartbeat is older than twice the alert-check interval.
    """
    now = now or datetime.now(UTC)
    threshold = 2 * get_settings().check_interval_minutes * 60
    with session_scope(session) as s:
        last = s.scalar(select(func.max(WorkerHeartbeat.last_beat_at)))
    if isinstance(last, str):  # SQLite MAX() returns text
        last = datetime.fromisoformat(last)
    if last is None:
        return {"state": "never", "last_beat_at": None, "age_seconds": None, "threshold_seconds": threshold}
    last = as_utc(last)
    age = (now - last).total_seconds()
    return {
        "state": "stale" if age > threshold else "ok",
        "last_beat_at": last.isoformat(),
        "age_seconds": int(age),
        "threshold_seconds": threshold,
    }
