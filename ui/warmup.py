"""Warm start: what the Overview needs, made ready off the script thread when the dashboard server starts.

A cold process spends seconds importing pandas, SQLAlchemy and plotly, migrating the database and computing the
Overview's figures before the first view can show them. `start()` does that work once per process in a daemon
thread, from the server's startup hook (app.py's lifespan: `streamlit run app.py`, what `make run` starts), before
any browser connects; with `streamlit run dashboard.py` the first view does it itself. It never blocks a page:
st.cache_data computes one entry per key, so a page that asks first waits for the same computation instead of
repeating it. The figures are those of the default view (every company, the last 30 days): they fill the cache,
nothing else.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback

log = logging.getLogger("dashboard.warmup")

_lock = threading.Lock()
_thread: threading.Thread | None = None


def start() -> threading.Thread:
    """Start the warm-up once per process (later calls return the same thread)."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=warm, name="dashboard-warmup", daemon=True)
            _thread.start()
        return _thread


def warm() -> dict:
    """Import the modules of the first view, migrate, then compute and cache the Overview's default figures and
    build its first chart once (plotly's first figure is slow). Returns the seconds each step took."""
    steps: dict[str, float] = {}
    t = time.perf_counter()

    def step(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        steps[name] = round(now - t, 3)
        t = now

    try:
        from ui import budgets, cache, charts  # noqa: F401  (pandas, SQLAlchemy, plotly: most of a cold start)

        step("imports")
        cache.migrated()
        step("migrate")
        cache.status()
        cache.options()
        figures = cache.overview(None, None, None, days=cache.OVERVIEW_DAYS)
        cache.budget_status(None, None)
        step("figures")
        if figures.daily_by_provider:
            charts.daily_stacked(figures.daily_by_provider, "cost").to_json()
        step("chart")
        log.info("warm start done: %s", steps)
    except Exception:  # noqa: BLE001 - a failed warm-up costs only the time it would have saved
        from core.redact import redact

        log.error("warm start failed; the first view computes its figures itself:\n%s", redact(traceback.format_exc()))
    return steps
