"""Engine and session factory. Callers own transactions (`session_scope` commits or rolls back)."""

from __future__ import annotations

import contextlib
import fcntl
import re
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from core.config import PROJECT_ROOT, get_settings

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    # WAL + busy timeout: the dashboard, the worker and imports write concurrently.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class _HintingSQLiteCompiler(SQLiteCompiler):
    """Renders `select(...).with_hint(table, "INDEXED BY ix", "sqlite")`, which SQLAlchemy's SQLite dialect
    drops: where SQLite's planner picks the wrong index (core/queries/costliest.py), the query names the right one."""

    def get_from_hint_text(self, table, text):
        return text


def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().database_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _make_engine(url)
            _engines[url] = engine
        return engine


def _make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        engine.dialect.statement_compiler = _HintingSQLiteCompiler
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _makers.clear()


_makers: dict[Engine, sessionmaker] = {}


def get_session(url: str | None = None) -> Session:
    engine = get_engine(url)
    maker = _makers.get(engine)
    if maker is None:
        # One per engine: each sessionmaker makes its own Session class, whose event set-up costs more than the
        # rest of opening a session.
        maker = _makers[engine] = sessionmaker(bind=engine, expire_on_commit=False)
    return maker()


@contextlib.contextmanager
def session_scope(session: Session | None = None) -> Iterator[Session]:
    """Use the caller's session as is, or open one that commits on success and rolls back on error."""
    if session is not None:
        yield session
        return
    own = get_session()
    try:
        yield own
        own.commit()
    except BaseException:
        own.rollback()
        raise
    finally:
        own.close()


# Settings of a PostgreSQL read transaction (SET LOCAL: they end with it). The views' queries read a few
# thousand rollup rows or up to a day of raw rows: JIT compilation costs more than it saves on them (40 ms of a
# 45 ms query at 10M records), and 4 MB of work_mem sends a half-day grouping to disk.
# Custom plans always: a prepared statement's generic plan cannot see a range's size (see core/queries/costliest.py).
READ_SETTINGS = {"jit": "off", "work_mem": "32MB", "plan_cache_mode": "force_custom_plan"}


@contextlib.contextmanager
def read_scope(session: Session | None = None) -> Iterator[Session]:
    """`session_scope` for views that read several statements: on PostgreSQL its own session reads one snapshot
    (REPEATABLE READ; read-only work never fails on it), so totals and breakdowns agree while records arrive,
    with READ_SETTINGS. A caller's session is used as is."""
    if session is not None:
        yield session
        return
    with session_scope() as own:
        if not is_sqlite(own):
            conn = own.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            settings = ", ".join(f"set_config('{k}', '{v}', true)" for k, v in READ_SETTINGS.items())
            conn.exec_driver_sql(f"SELECT {settings}")
        yield own


def is_sqlite(bind) -> bool:
    """Whether a session, engine, connection or dialect is SQLite's (else it is PostgreSQL's)."""
    if isinstance(bind, Session):
        bind = bind.get_bind()
    return getattr(bind, "dialect", bind).name == "sqlite"


def dialect_insert(session: Session):
    """The database's own INSERT (it has ON CONFLICT) for the session's engine."""
    return sqlite.insert if is_sqlite(session) else postgresql.insert


class NativeStatement:
    """PostgreSQL: a long statement run once per record, with `%(name)s` parameters. psycopg parses the parameters
    of a statement over 4 KB (or 50 parameters) on every call (5 ms of a one-record write here): this one is
    numbered once ($1, $2…), run by a RawCursor and prepared on the server."""

    def __init__(self, sql: str):
        self.names: list[str] = []

        def number(m: re.Match) -> str:
            if m.group(1) not in self.names:
                self.names.append(m.group(1))
            return f"${self.names.index(m.group(1)) + 1}"

        self.sql = re.sub(r"%\((\w+)\)s", number, sql)

    def run(self, session: Session, params: Mapping) -> list[tuple]:
        """The statement's rows, run in the session's transaction."""
        from psycopg import RawCursor

        cur = RawCursor(session.connection().connection.driver_connection)
        cur.execute(self.sql, [params[name] for name in self.names], prepare=True)
        return cur.fetchall() if cur.description else []


def lock_for_write(session: Session) -> None:
    """SQLite: take the write lock now (a no-op write), so that what this transaction reads next stays true until it
    commits. PostgreSQL: nothing (its writers lock rows)."""
    if is_sqlite(session):
        session.execute(text("DELETE FROM job_locks WHERE 0"))


def migrate(url: str | None = None) -> None:
    """Apply alembic migrations up to head; safe when two processes start at once."""
    from alembic import command
    from alembic.config import Config

    engine = get_engine(url)
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if is_sqlite(engine):
        lock_path = Path(engine.url.database or "data/usage.db").with_suffix(".migrate.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        return
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(724311)")  # one migrator at a time
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
