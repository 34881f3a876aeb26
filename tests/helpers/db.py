"""Emptying a test database between examples (hypothesis runs many inside one test)."""
from __future__ import annotations

from sqlalchemy import text

from core.storage import db as core_db
from core.storage.models import Base


def empty(url: str) -> None:
    """Delete every row of every table (PostgreSQL: TRUNCATE, identities restarted)."""
    engine = core_db.get_engine(url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))
        else:
            # A session leaked by a failed test would block TRUNCATE forever: end it, and never wait long.
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                              "current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"))
            conn.execute(text("SET LOCAL lock_timeout = '20s'"))
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
