"""Named locks shared by every worker and dashboard process on one database.

PostgreSQL: a session-level advisory lock on a dedicated connection (released by the server if the process
dies). SQLite: a lease row in `job_locks` that expires after `ttl` seconds, so a crashed holder never blocks
the others for longer than its lease.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.dialects import sqlite

from core.storage.db import get_engine, is_sqlite
from core.storage.models import JobLock


class LockTimeout(RuntimeError):
    """The lock stayed held by someone else for longer than the caller would wait."""


def _pg_key(name: str) -> int:
    # Stable across processes and Python runs (hash() is salted); signed 64-bit as PostgreSQL wants.
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex[:8]}"


def _sqlite_try(engine, name: str, holder: str, ttl: float) -> bool:
    now = datetime.now(UTC)
    table = JobLock.__table__
    ins = sqlite.insert(table).values(name=name, holder=holder, expires_at=now + timedelta(seconds=ttl))
    # Take the row when it is free or its lease has run out; a live lease is left alone.
    stmt = ins.on_conflict_do_update(
        index_elements=["name"],
        set_={"holder": ins.excluded.holder, "expires_at": ins.excluded.expires_at},
        where=table.c.expires_at < now,
    )
    with engine.begin() as conn:
        conn.execute(stmt)
        return conn.scalar(select(table.c.holder).where(table.c.name == name)) == holder


def _sqlite_release(engine, name: str, holder: str) -> None:
    table = JobLock.__table__
    with engine.begin() as conn:
        conn.execute(delete(table).where(table.c.name == name, table.c.holder == holder))


@contextlib.contextmanager
def job_lock(
    name: str, *, wait: float = 0.0, ttl: float = 900.0, url: str | None = None, poll: float = 0.05
) -> Iterator[bool]:
    """Hold lock `name` for the block; yields True when acquired, False when someone else holds it.

    `wait` seconds are spent retrying before giving up (0: try once). The SQLite lease lasts `ttl` seconds:
    longer than any job that runs under it.
    """
    engine = get_engine(url)
    deadline = time.monotonic() + wait
    if is_sqlite(engine):
        holder = _holder()
        acquired = _sqlite_try(engine, name, holder, ttl)
        while not acquired and time.monotonic() < deadline:
            time.sleep(poll)
            acquired = _sqlite_try(engine, name, holder, ttl)
        try:
            yield acquired
        finally:
            if acquired:
                _sqlite_release(engine, name, holder)
        return
    key = _pg_key(name)
    while True:
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        acquired = False
        try:
            acquired = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
        finally:
            if not acquired:
                conn.close()  # no pooled connection is held while waiting: the holder may need several
        if acquired or time.monotonic() >= deadline:
            break
        time.sleep(poll)
    if not acquired:
        yield False
        return
    try:
        yield True
    finally:
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        finally:
            conn.close()
