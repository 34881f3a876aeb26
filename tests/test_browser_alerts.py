"""The resolve flow once in a real browser: `streamlit run dashboard.py` against a test database with an open
alert, headless Chromium (Debian's package) opens the Alerts page by URL, types a note, clicks Resolve, confirms;
the page shows the alert resolved and the database says so."""
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alert_fixtures import env, free_port, spend  # noqa: F401

from core.alerts import check_alerts, list_alerts
from core.limits import set_budget

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian's chromium package is not installed")]


def wait_healthy(port: int, proc: subprocess.Popen, limit: float = 90.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"streamlit exited: {proc.stderr.read()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("streamlit never answered /_stcore/health")


@pytest.fixture
def dashboard(sqlite_db, env):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": sqlite_db}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    try:
        wait_healthy(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_resolve_an_alert_in_the_browser(dashboard):
    from playwright.sync_api import expect, sync_playwright

    now = datetime.now(UTC)
    set_budget("Acme", "100", provider="openai")
    spend("85", when=now - timedelta(minutes=5), company="Acme")
    created = check_alerts(now=now)["alerts"]
    assert [a["type"] for a in created] == ["cost_warning"]
    alert_id = created[0]["id"]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{dashboard}/alerts")
            expect(page.get_by_test_id("stMetricValue").first).to_have_text("1", timeout=60_000)
            expect(page.get_by_text("Monthly budget OpenAI at 85%")).to_be_visible(timeout=30_000)
            note = page.get_by_label("Resolution note")
            note.fill("Budget raised to 150$")
            note.press("Enter")  # commit the text input before the click
            page.get_by_role("button", name="Resolve", exact=True).click()
            dialog = page.get_by_role("dialog")
            expect(dialog).to_be_visible(timeout=30_000)
            expect(dialog.get_by_text("Note: Budget raised to 150$")).to_be_visible()
            dialog.get_by_role("button", name="Confirm").click()
            expect(page.get_by_text(f"Alert #{alert_id} resolved")).to_be_visible(timeout=30_000)
            expect(page.get_by_test_id("stMetricValue").first).to_have_text("0", timeout=30_000)
            expect(page.get_by_text("No open alert.")).to_be_visible()
        finally:
            browser.close()

    stored = list_alerts(alert_type="cost_warning")["results"][0]
    assert stored["is_resolved"] is True
    assert stored["resolution_note"] == "Budget raised to 150$"
    assert stored["resolved_by"] == "dashboard"
