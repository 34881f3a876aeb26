"""Emptying a test database between tests (and between the examples hypothesis runs inside one test)."""

from __future__ import annotations

from functools import cache

from sqlalchemy import text

from core.storage import db as core_db
from core.storage.models import Base


@cache
def _empty_sql(dialect: str, sequences: tuple[str, ...]) -> str:
    # Children before parents. DELETE, not TRUNCATE: a test leaves a few rows, and PostgreSQL's TRUNCATE costs a
    # new file per table (about a second for all of them on a busy machine, against a tenth for DELETE).
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    statements = [f'DELETE FROM "{t}"' for t in tables]
    statements += [f'ALTER SEQUENCE "{s}" RESTART' for s in sequences]  # ids from 1 again, as on a new database
    return ";\n".join(statements)


def empty(url: str) -> None:
    """Delete every row of every table; on PostgreSQL the id sequences start from 1 again."""
    engine = core_db.get_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for statement in _empty_sql("sqlite", ()).split(";\n"):
                conn.execute(text(statement))
            return
        # A session leaked by a failed test would block the deletes forever: end it, and never wait long.
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                "current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
            )
        )
        conn.execute(text("SET LOCAL lock_timeout = '20s'"))
        sequences = tuple(
            conn.execute(
                text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() ORDER BY 1")
            ).scalars()
        )
        conn.exec_driver_sql(_empty_sql("postgresql", sequences))
