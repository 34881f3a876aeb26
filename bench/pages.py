"""The dashboard's pages in AppTest, the alert checks, and the dashboard process's peak memory (bench.scale)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.table import ALERTS_S, MEMORY_MB, PAGE_S, Row, log, median_ms

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["overview", "costs", "trends", "efficiency", "stats", "usage", "alerts", "settings"]


def page_rows(runs: int) -> list[Row]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    rows = []
    for page in PAGES:
        log(f"AppTest {page}")
        # A first run does what a running server did once at its start (imports, Streamlit's registry of
        # installed components: a second or more in a new AppTest); each timed run is a view of the page with
        # every cached figure cleared.
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
        if page != "overview":
            at.switch_page(f"pages/{page}.py")
        at.run()
        times = []
        for _ in range(runs):
            st.cache_data.clear()
            t = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t)
            if at.exception:
                raise RuntimeError(f"{page}: {at.exception[0].value}")
        rows.append(Row(f"page {page} (AppTest rerun, cache cleared)", "", "", statistics.median(times), "s", PAGE_S))
    return rows


def alerts_row(runs: int) -> Row:
    from core.alerts import check_alerts

    log("check_alerts")
    return Row("check_alerts", "", "", median_ms(check_alerts, runs) / 1000, "s", ALERTS_S)


def _child_streamlit_pid() -> int:
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            cmdline = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields["PPid"]) == os.getpid() and b"streamlit" in cmdline:
            return int(status.parent.name)
    raise RuntimeError("streamlit process not found")


def _vm_hwm_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["VmHWM"].split()[0]) / 1024


def memory_row(url: str) -> Row:
    """Peak RSS of a real dashboard process after every page was opened twice in headless Chromium."""
    from tests.helpers.browser import ARGS, CHROMIUM, streamlit_server

    if not Path(CHROMIUM).exists():
        return memory_row_apptest(url)
    from playwright.sync_api import sync_playwright

    log("dashboard process in Chromium")
    env = {k: os.environ[k] for k in ("DATABASE_URL", "USERS_FILE", "AUTH_SECRETS_FILE")}
    with streamlit_server(env, Path("/tmp/aium-bench-scale-streamlit.log")) as port:
        pid = _child_streamlit_pid()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            for _ in range(2):
                for path in ["" if name == "overview" else name for name in PAGES]:
                    page.goto(f"http://127.0.0.1:{port}/{path}")
                    page.locator("h1").first.wait_for(timeout=120_000)
                    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=120_000)
            browser.close()
        peak = _vm_hwm_mb(pid)
    return Row("dashboard process peak RSS (Chromium, every page x2)", "", "", peak, "MB", MEMORY_MB)


def memory_row_apptest(url: str) -> Row:
    """Without Chromium: every page's AppTest run, twice, in a fresh process; its own peak RSS."""
    log("dashboard pages by AppTest in a subprocess (no Chromium)")
    code = (
        "import resource, streamlit as st\nfrom streamlit.testing.v1 import AppTest\n"
        f"for _ in range(2):\n  for p in {PAGES!r}:\n"
        f"    at = AppTest.from_file({str(ROOT / 'dashboard.py')!r}, default_timeout=120)\n"
        "    p == 'overview' or at.switch_page(f'pages/{p}.py')\n    at.run()\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, check=True
    )
    return Row(
        "dashboard process peak RSS (AppTest subprocess)", "", "", float(out.stdout.split()[-1]), "MB", MEMORY_MB
    )
