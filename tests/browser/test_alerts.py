"""The resolve flow once in a real browser: `streamlit run dashboard.py` against a test database with an open
alert, headless Chromium (Debian's package) opens the Alerts page by URL, types a note, clicks Resolve, confirms;
the page shows the alert resolved and the database says so."""

from datetime import UTC, datetime, timedelta

import pytest

from core.alerts import check_alerts, list_alerts
from core.limits.budgets import set_budget
from tests.helpers.alerts import spend
from tests.helpers.browser import ARGS, CHROMIUM, MARKS, streamlit_server

pytestmark = MARKS


@pytest.fixture
def dashboard(sqlite_db, env, tmp_path):
    with streamlit_server({"DATABASE_URL": sqlite_db}, tmp_path / "streamlit.log") as port:
        yield f"http://127.0.0.1:{port}"


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
            # The message can show twice (its card and the table of open alerts): any visible one will do.
            expect(page.get_by_text("Monthly budget OpenAI at 85.0%").first).to_be_visible(timeout=30_000)
            note = page.get_by_label("Resolution note")
            note.fill("Budget raised to $150.00")
            note.press("Enter")  # commit the text input before the click
            page.get_by_role("button", name="Resolve", exact=True).click()
            dialog = page.get_by_role("dialog")
            expect(dialog).to_be_visible(timeout=30_000)
            expect(dialog.get_by_text("Note: Budget raised to $150.00")).to_be_visible()
            dialog.get_by_role("button", name="Confirm").click()
            expect(page.get_by_text(f"Alert #{alert_id} resolved").first).to_be_visible(timeout=30_000)
            expect(page.get_by_test_id("stMetricValue").first).to_have_text("0", timeout=30_000)
            expect(page.get_by_text("No open alert.").first).to_be_visible()
        finally:
            browser.close()

    stored = list_alerts(alert_type="cost_warning")["results"][0]
    assert stored["is_resolved"] is True
    assert stored["resolution_note"] == "Budget raised to $150.00"
    assert stored["resolved_by"] == "dashboard"
