"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, emptied before each test; the environment,
users file, notification receivers, the command line run in this process, and the AppTest navigation mode.

`db` is parametrised over both engines. PostgreSQL is at 127.0.0.1:5432 (user postgres, trust auth) — on CI
(CI=true) an unreachable server fails the run; elsewhere those tests skip with the reason. Each test process (each
pytest-xdist worker) has its own PostgreSQL database and its own SQLite file.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import sys
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text

from core import config
from core.storage import db as core_db
from tests.fakes.smtp_server import SMTPServer
from tests.fakes.webhook_server import Webhook
from tests.helpers.db import empty

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
        # A test database need not survive a crash of the server: commits return without waiting for the disk
        # (the tests commit thousands of small transactions; what each one sees is unchanged).
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    core_db.migrate(url)
    yield url
    core_db.dispose_engines()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _use(url: str, monkeypatch) -> str:
    monkeypatch.setenv("DATABASE_URL", url)
    # Local mode (no login) unless a test configures users: a developer's own users file is never read.
    monkeypatch.setenv("USERS_FILE", "/nonexistent/aium-test-users.json")
    monkeypatch.setenv("AUTH_SECRETS_FILE", "/nonexistent/aium-test-secrets.toml")
    config.reset_settings()
    empty(url)
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


# -- environment and users --------------------------------------------------------------------------------------


@pytest.fixture
def env(monkeypatch):
    """env(NAME=value, ...) sets environment variables (None unsets one) and forgets cached settings."""

    def set_env(**values):
        for k, v in values.items():
            if v is None:
                monkeypatch.delenv(k, raising=False)
            else:
                monkeypatch.setenv(k, str(v))
        config.reset_settings()

    # Quiet defaults for tests: no notification channel, no pause between delivery attempts; rate rules judge
    # any sample (ALERT_MIN_JOBS=1) so that a test shows one threshold with a few records — the default of 20
    # has its own tests in tests/alerts/test_rules.py.
    set_env(
        ALERT_MIN_JOBS="1",
        NOTIFY_URLS=None,
        ADMIN_NOTIFY_URLS=None,
        NOTIFY_RETRY_DELAY_SECONDS="0",
        OPENAI_API_KEY=None,
        OLLAMA_BASE_URL=None,
        GEMINI_API_KEY=None,
        LOG_FILE=None,
        PROBE_TIME="09:00",
        PROBE_TIMEZONE="UTC",
    )
    yield set_env
    config.reset_settings()


@pytest.fixture
def users_file(tmp_path, monkeypatch):
    """An empty password-login users file of this test (USERS_FILE): login is configured once a user is added."""
    path = tmp_path / "users.json"
    monkeypatch.setenv("USERS_FILE", str(path))
    config.reset_settings()
    yield path
    config.reset_settings()


_USERS_FILES: dict[tuple, bytes] = {}


@pytest.fixture
def add_users(users_file):
    """add_users((username, password, role, companies), ...) fills this test's users file: add_user writes it
    the first time in this process, later tests get a copy (a bcrypt hash at full cost takes a quarter second)."""
    from core.access.users import add_user

    def add(*users) -> None:
        key = tuple((name, password, role, tuple(companies)) for name, password, role, companies in users)
        if key in _USERS_FILES:
            users_file.write_bytes(_USERS_FILES[key])
            users_file.chmod(0o600)
            return
        for name, password, role, companies in key:
            add_user(name, password, role=role, companies=list(companies))
        _USERS_FILES[key] = users_file.read_bytes()

    return add


# -- notification receivers -----------------------------------------------------------------------------------


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture
def smtp_server():
    server = SMTPServer()
    yield server
    server.close()


# -- the command line, in this process ------------------------------------------------------------------------


@dataclass
class Ran:
    """What a command left: its exit code and what it printed (the shape of subprocess.run's result)."""

    returncode: int
    stdout: str
    stderr: str


def exit_code(e: SystemExit) -> int:
    """The status a process would exit with after `SystemExit(e.code)`."""
    if e.code is None:
        return 0
    return e.code if isinstance(e.code, int) else 1


@pytest.fixture
def cli(capsys, monkeypatch):
    """cli(*args, stdin=None) runs `python -m core ARGS` in this process, as a fresh process would: settings read
    from the environment again, log lines on stderr as `logging.basicConfig` sets them up there."""
    from core.cli import main

    def run(*args, stdin: str | None = None) -> Ran:
        capsys.readouterr()  # what the test printed before is not the command's
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        config.reset_settings()
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:
            code = exit_code(e)
            if isinstance(e.code, str):
                print(e.code, file=sys.stderr)
        finally:
            root.removeHandler(handler)
        out, err = capsys.readouterr()
        return Ran(int(code or 0), out, err)

    return run


@pytest.fixture
def run_worker(capsys):
    """run_worker(*args) runs `python worker.py ARGS` in this process: its exit code, stdout and stderr. The
    signal handlers and log handlers the worker installs are taken away again afterwards."""
    import worker

    def run(*args) -> Ran:
        capsys.readouterr()
        config.reset_settings()
        root = logging.getLogger()
        level = root.level
        handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            code = worker.main([str(a) for a in args])
        except SystemExit as e:
            code = exit_code(e)
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
            for h in list(root.handlers):
                if getattr(h, "_aium", False):  # the worker's own (stderr, LOG_FILE)
                    root.removeHandler(h)
                    h.close()
            root.setLevel(level)
        out, err = capsys.readouterr()
        return Ran(int(code or 0), out, err)

    return run


# -- AppTest ------------------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_cache():
    """Streamlit's data cache and the sign-in throttle empty before and after the test."""
    import streamlit as st

    from core.access.throttle import THROTTLE

    st.cache_data.clear()
    THROTTLE.clear()
    yield
    st.cache_data.clear()
    THROTTLE.clear()


@pytest.fixture
def navigation_mode(monkeypatch):
    """Run AppTest as a running server does after its first request: in `st.navigation` mode.

    AppTest resets Streamlit's legacy `pages/` flag before every run, so each run would take the fresh-process
    path (the page alone, then `ui.entry.require_entry` reruns through dashboard.py), which drops the widget
    event being tested. The fresh-process path itself is covered by tests/browser/test_pages.py.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
