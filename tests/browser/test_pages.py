"""Every dashboard page loaded by its own URL in headless Chromium against a real `streamlit run`: the page
renders its own content (not another page, not a traceback), the demo banner shows, and a figure is right.
Direct URLs are where a navigation mix-up with the `pages/` folder would show."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from core.storage.db import session_scope
from core.storage.models import WorkerState
from tests.helpers.browser import ARGS, CHROMIUM, MARKS, streamlit_server
from tests.helpers.ledger import csum, load, make_records, raw_rows

pytestmark = MARKS


@pytest.fixture
def server(sqlite_db, tmp_path):
    recs = [
        r
        for r in make_records(n=40, now=datetime.now(UTC) - timedelta(minutes=5))
        if not r["job_id"].startswith("edge")
    ]
    load(recs)
    with session_scope() as s:
        s.add(WorkerState(key="demo_data", value="browser test", updated_at=datetime.now(UTC)))
    with streamlit_server({"DATABASE_URL": sqlite_db}, tmp_path / "streamlit.log") as port:
        yield f"http://127.0.0.1:{port}", raw_rows(sqlite_db)


def test_every_page_by_its_url(server):
    from playwright.sync_api import expect, sync_playwright

    base, rows = server
    now = datetime.now(UTC)
    last30 = [r for r in rows if r.created_at >= now - timedelta(days=30)]
    month = [r for r in rows if (r.created_at.year, r.created_at.month) == (now.year, now.month)]

    def usd2(d: Decimal) -> str:
        return f"${d.quantize(Decimal('0.01')):,.2f}"

    # url path -> (title, metric label, expected value or None for "any"). A page URL comes first: on a fresh
    # server that is when Streamlit's legacy pages/ handling would run the page without dashboard.py.
    checks = {
        "costs": ("Costs", "Cost this month", usd2(csum(month))),
        "": ("Overview", "Cost", usd2(csum(last30))),  # the default page is served at "/"
        "trends": ("Trends", "Volatility", None),
        "efficiency": ("Efficiency", "Cheapest per job", None),
        "stats": ("Stats", "Jobs", f"{len(rows):,}"),
        "usage": ("Usage", None, None),
        "settings": ("Settings", None, None),
        "alerts": ("Alerts", None, None),
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(accept_downloads=True)
        for path, (title, label, value) in checks.items():
            page.goto(f"{base}/{path}")
            heading = page.locator("h1").filter(has_text=title)
            expect(heading.first).to_be_visible(timeout=30_000)
            if label == "Cost":
                jobs = page.get_by_test_id("stMetric").filter(has_text="Jobs").first
                expect(jobs.get_by_test_id("stMetricValue")).to_have_text(f"{len(last30):,}")
                # Charts go out as plain Plotly specs (ui.charts.Chart), tables as pyarrow tables (ui.common):
                # the browser draws both, a bar trace and a table row per provider.
                providers = {r.provider for r in last30}
                daily = page.locator(".js-plotly-plot").filter(has_text="Daily cost by provider").first
                expect(daily.locator(".xtitle")).to_have_text("Day (UTC)")
                expect(daily.locator(".trace.bars")).to_have_count(len(providers))
                table = page.get_by_test_id("stDataFrame").first.locator("[role=grid]")
                expect(table).to_have_attribute("aria-rowcount", str(len(providers) + 1))
            expect(page.get_by_text("Demo data.").first).to_be_visible()  # drawn by dashboard.py
            expect(page.get_by_test_id("stSidebarUserContent").get_by_text("Filters", exact=True)).to_be_visible()
            if label:
                metric = page.get_by_test_id("stMetric").filter(has_text=label).first
                expect(metric).to_be_visible()
                if value is not None:
                    expect(metric.get_by_test_id("stMetricValue")).to_have_text(value)
            if path == "usage":
                expect(page.get_by_text(f"{len(rows)} matching usage records")).to_be_visible()
            if path == "settings":
                expect(page.get_by_text("No budget yet.")).to_be_visible()
                expect(page.get_by_text("custom-1", exact=False).first).to_be_visible()
            assert page.get_by_test_id("stException").count() == 0, path
            assert page.get_by_text("Page not found").count() == 0, path
            # Only this page's title: a navigation mix-up would render another page (or two).
            assert page.locator("h1").count() == 1, path

        # The explorer's export downloads exactly the filtered rows.
        page.goto(f"{base}/usage?provider=anthropic")
        expected = {r.job_id for r in rows if r.provider == "anthropic"}
        button = page.get_by_text(f"Export the {len(expected)} filtered rows as CSV")
        expect(button).to_be_visible(timeout=30_000)
        with page.expect_download(timeout=30_000) as info:
            button.click()
        text = Path(info.value.path()).read_text(encoding="utf-8")
        assert {r["job_id"] for r in csv.DictReader(io.StringIO(text))} == expected

        # A filter set on one page holds on the next one.
        page.goto(f"{base}/?provider=openai&days=90")
        expect(page.locator("h1").filter(has_text="Overview").first).to_be_visible(timeout=30_000)
        page.get_by_role("link", name="Costs").first.click()
        expect(page.locator("h1").filter(has_text="Costs").first).to_be_visible(timeout=30_000)
        openai_month = [r for r in month if r.provider == "openai"]
        metric = page.get_by_test_id("stMetric").filter(has_text="Cost this month").first
        expect(metric.get_by_test_id("stMetricValue")).to_have_text(usd2(csum(openai_month)))
        assert "provider=openai" in page.url
        browser.close()
