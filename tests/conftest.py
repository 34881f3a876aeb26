"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, emptied before each test.

`db` is parametrised over both engines. PostgreSQL is at 127.0.0.1:5432 (user postgres, trust auth) — on CI
(CI=true) an unreachable server fails the run; elsewhere those tests skip with the reason.
"""
from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from core import config
from core.storage import db as core_db
from core.storage.models import Base

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    try:
        eng = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as e:  # noqa: BLE001 - any failure means "no server"
        return f"{type(e).__name__}"


@pytest.fixture(scope="session")
def _sqlite_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    core_db.migrate(url)
    return url


@pytest.fixture(scope="session")
def _pg_url():
    reason = _pg_available()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is required on CI but unreachable ({reason})")
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 not reachable ({reason})")
    name = f"aium_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    core_db.migrate(url)
    yield url
    core_db.dispose_engines()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _empty(url: str) -> None:
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


def _use(url: str, monkeypatch) -> str:
    monkeypatch.setenv("DATABASE_URL", url)
    # Local mode (no login) unless a test configures users: a developer's own users file is never read.
    monkeypatch.setenv("USERS_FILE", "/nonexistent/aium-test-users.json")
    monkeypatch.setenv("AUTH_SECRETS_FILE", "/nonexistent/aium-test-secrets.toml")
    config.reset_settings()
    _empty(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, monkeypatch):
    """DATABASE_URL of an empty, migrated database; the test runs once on SQLite and once on PostgreSQL."""
    url = request.getfixturevalue("_sqlite_url" if request.param == "sqlite" else "_pg_url")
    yield _use(url, monkeypatch)
    config.reset_settings()


@pytest.fixture
def sqlite_db(_sqlite_url, monkeypatch):
    """SQLite only, for tests whose subject is not the database (pages, CLI parsing…)."""
    yield _use(_sqlite_url, monkeypatch)
    config.reset_settings()


@pytest.fixture
def pg_db(_pg_url, monkeypatch):
    yield _use(_pg_url, monkeypatch)
    config.reset_settings()


@pytest.fixture
def session(db):
    s = core_db.get_session(db)
    yield s
    s.rollback()
    s.close()
