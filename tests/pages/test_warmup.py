"""Warm start: ui.warmup computes the Overview's default figures into the cache the page reads, and `streamlit run
app.py` starts it with the server, before any browser connects. SQLite and PostgreSQL for the cache test."""

import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
import streamlit as st

from tests.helpers.apptest import app_test
from tests.helpers.browser import streamlit_server
from tests.helpers.ledger import load, make_records
from ui import warmup

pytestmark = pytest.mark.usefixtures("navigation_mode")


def jobs_shown(at) -> str:
    assert not at.exception
    return next(m.value for m in at.metric if m.label == "Jobs")


def test_warm_up_fills_the_overview_cache(db):
    now = datetime.now(UTC)
    load([r for r in make_records(n=30, now=now - timedelta(hours=1)) if not r["job_id"].startswith("edge")])
    recent = sum(
        1
        for r in make_records(n=30, now=now - timedelta(hours=1))
        if not r["job_id"].startswith("edge") and r["created_at"] >= now - timedelta(days=30)
    )
    steps = warmup.warm()
    assert list(steps) == ["imports", "migrate", "figures", "chart"]
    # A call recorded after the warm-up: the Overview still shows the warmed figures, so the page read them from
    # the cache the warm-up filled (same keys as the page's own calls) instead of computing its own.
    load(
        [
            {
                "job_id": "after-warm-up",
                "created_at": now - timedelta(minutes=5),
                "provider": "openai",
                "model": "gpt-4o",
                "input_tokens": 10,
                "output_tokens": 5,
            }
        ]
    )
    assert jobs_shown(app_test()) == f"{recent:,}"
    st.cache_data.clear()
    assert jobs_shown(app_test()) == f"{recent + 1:,}"


def test_start_runs_once_per_process_and_never_waits(sqlite_db):
    t0 = time.perf_counter()
    first = warmup.start()
    assert warmup.start() is first and time.perf_counter() - t0 < 1.0
    first.join(120)
    assert not first.is_alive()


def test_app_py_warms_the_database_at_server_start(tmp_path):
    """`streamlit run app.py` (make run) migrates and computes before any browser connects: the empty database
    gets its schema with no session opened. `streamlit run dashboard.py` waits for a first view to do it."""
    path = tmp_path / "fresh.db"
    with streamlit_server({"DATABASE_URL": f"sqlite:///{path}"}, tmp_path / "app.log", script="app.py"):
        deadline = time.monotonic() + 90
        tables: set[str] = set()
        while time.monotonic() < deadline and "alembic_version" not in tables:
            time.sleep(0.5)
            if path.exists():
                c = sqlite3.connect(path, timeout=1)
                try:
                    tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                except sqlite3.OperationalError:  # locked while the migration writes: look again
                    pass
                finally:
                    c.close()
        assert {"alembic_version", "ai_job_usage"} <= tables
    other = tmp_path / "plain.db"
    with streamlit_server({"DATABASE_URL": f"sqlite:///{other}"}, tmp_path / "plain.log"):
        time.sleep(3)
        assert not other.exists()
