"""Dashboard benchmark: 1,000,000 usage records in PostgreSQL, then the time of each analytics function over a
30-day range, of each page's AppTest run, and the peak memory of a real dashboard process.

    python -m bench.dashboard [--rows 1000000] [--reuse] [--no-browser]

Uses its own database (aium_bench on 127.0.0.1:5432); --reuse keeps it when it already holds --rows records.
Figures are printed, never asserted (speed is measured here, not in tests).
"""
from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
DB_NAME = "aium_bench"
MODELS = [("openai", "gpt-4o", 30), ("openai", "gpt-4o-mini", 30), ("openai", "o3-mini", 5),
          ("anthropic", "claude-3-5-sonnet-20241022", 12), ("anthropic", "claude-3-5-haiku-20241022", 8),
          ("gemini", "gemini-2.0-flash", 6), ("mistral", "mistral-large-latest", 4), ("ollama", "llama3.1:8b", 3),
          ("acme", "custom-model", 2)]
COMPANIES = [("Humari", ["Humari", "Academy"]), ("Qadhya", ["Qadhya"]), ("Northwind Labs", ["Support", "Search"])]
OPERATIONS = ["chat-support", "document-summary", "translation", "code-review", "kb-quality-analysis-short"]
PAGES = ["overview", "costs", "trends", "efficiency", "stats", "usage", "settings"]
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def database(rows: int, reuse: bool) -> str:
    url = f"{PG_SERVER}/{DB_NAME}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": DB_NAME})
        if exists and reuse:
            eng = create_engine(url)
            try:
                with eng.connect() as c:
                    if c.scalar(text("SELECT count(*) FROM ai_job_usage")) == rows:
                        return url
            except Exception:  # noqa: BLE001 - any problem: rebuild it
                pass
            finally:
                eng.dispose()
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    admin.dispose()
    os.environ["DATABASE_URL"] = url
    _reset()
    from core.db import migrate

    migrate(url)
    load(rows)
    return url


def _reset() -> None:
    from core import config
    from core.db import dispose_engines

    config.reset_settings()
    dispose_engines()


def records(n: int, days: int = 120, seed: int = 1):
    """n validated records spread evenly over `days` days up to a minute ago, mixed providers and statuses."""
    from core.validation import validate_record

    rng = random.Random(seed)
    end = datetime.now(UTC) - timedelta(minutes=1)
    start = end - timedelta(days=days)
    step = days * 86400 / n
    weights = [w for *_, w in MODELS]
    now = datetime.now(UTC)
    for i in range(n):
        provider, model, _ = rng.choices(MODELS, weights)[0]
        company, brands = COMPANIES[i % len(COMPANIES)]
        inp = int(rng.lognormvariate(6.5, 0.8)) + 1
        status = "completed" if rng.random() > 0.02 else rng.choice(["failed", "timeout"])
        yield validate_record({
            "job_id": f"bench-{i}", "created_at": start + timedelta(seconds=i * step), "company": company,
            "brand": brands[i % len(brands)], "provider": provider, "model": model, "status": status,
            "input_tokens": inp, "output_tokens": int(inp * rng.uniform(0.05, 0.6)),
            "cached_tokens": inp // 4 if i % 5 == 0 else 0, "execution_time_seconds": f"{rng.uniform(0.3, 9):.3f}",
            "operation": OPERATIONS[i % len(OPERATIONS)], "description": f"bench job {i}"}, now=now)


def load(rows: int, batch: int = 50_000) -> None:
    from core.db import session_scope
    from core.pricing import Pricer
    from core.usage import ingest

    t0 = time.perf_counter()
    gen = records(rows)
    done = 0
    while done < rows:
        chunk = [r for _, r in zip(range(min(batch, rows - done)), gen)]
        with session_scope() as s:
            ingest(s, chunk, source="import", pricer=Pricer(s))
        done += len(chunk)
        print(f"  loaded {done:,} records ({done / (time.perf_counter() - t0):,.0f}/s)", end="\r", flush=True)
    print(f"\n  {rows:,} records in {time.perf_counter() - t0:.0f} s")


def time_analytics() -> None:
    from core import analytics

    cases = {
        "get_usage_dashboard(days=30)": lambda: analytics.get_usage_dashboard(days=30),
        "get_usage_dashboard(days=30, provider=openai)": lambda: analytics.get_usage_dashboard(days=30,
                                                                                                 provider="openai"),
        "get_cost_breakdown() (current month)": lambda: analytics.get_cost_breakdown(),
        "get_usage_stats()": lambda: analytics.get_usage_stats(),
        "get_usage_trends(week, cost)": lambda: analytics.get_usage_trends(period="week", metric="cost"),
        "get_usage_trends(quarter, tokens)": lambda: analytics.get_usage_trends(period="quarter", metric="tokens"),
        "get_efficiency() (30 days)": lambda: analytics.get_efficiency(),
        "list_usage(page=1, 30 days)": lambda: analytics.list_usage(
            created_at__gte=(datetime.now(UTC) - timedelta(days=30)).date().isoformat()),
        "list_usage(page=200, provider, status)": lambda: analytics.list_usage(
            page=200, provider_name="openai", ai_job__status="completed"),
        "filter_options()": lambda: analytics.filter_options(),
        "unpriced_models()": lambda: analytics.unpriced_models(),
    }
    print(f"\n{'analytics function (PostgreSQL, 1M records)':<48} {'first ms':>9} {'median ms':>10} {'max ms':>8}")
    for name, fn in cases.items():
        times = []
        for _ in range(5):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
        print(f"{name:<48} {times[0]:>9.0f} {statistics.median(times):>10.0f} {max(times):>8.0f}")
    d = analytics.get_usage_dashboard(days=30)
    print(f"  (30-day window: {d['totals']['jobs']:,} jobs, ${Decimal(d['totals']['cost']):,.2f})")


def time_pages() -> None:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    print(f"\n{'page (AppTest, cache cleared before each run)':<48} {'first s':>9} {'median s':>9}")
    for page in PAGES:
        times = []
        for _ in range(3):
            st.cache_data.clear()
            at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
            if page != "overview":
                at.switch_page(f"pages/{page}.py")
            t = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t)
            if at.exception:
                raise RuntimeError(f"{page}: {at.exception[0].value}")
        print(f"{page:<48} {times[0]:>9.2f} {statistics.median(times):>9.2f}")


def dashboard_memory(url: str) -> None:
    """Peak RSS (VmHWM) of `streamlit run dashboard.py` after every page was opened in Chromium, twice."""
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"], cwd=ROOT,
                            env=dict(os.environ, DATABASE_URL=url), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if urllib.request.urlopen(base + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.3)
        paths = ["", "costs", "trends", "efficiency", "stats", "usage", "settings"]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=BROWSER_ARGS)
            page = browser.new_page()
            print(f"\n{'page in Chromium (real server)':<48} {'load s':>9}")
            for round_ in range(2):
                for path in paths:
                    t = time.perf_counter()
                    page.goto(f"{base}/{path}")
                    page.locator("h1").first.wait_for(timeout=120_000)
                    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=120_000)
                    if round_ == 0:
                        print(f"{(path or 'overview'):<48} {time.perf_counter() - t:>9.2f}")
            browser.close()
        status = Path(f"/proc/{proc.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        print(f"\ndashboard process peak RSS (VmHWM): {int(fields['VmHWM'].split()[0]) / 1024:.0f} MB; "
              f"current RSS: {int(fields['VmRSS'].split()[0]) / 1024:.0f} MB")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reuse", action="store_true", help="keep aium_bench if it already holds --rows records")
    ap.add_argument("--no-browser", action="store_true", help="skip the real-server memory measurement")
    args = ap.parse_args()
    url = database(args.rows, args.reuse)
    os.environ["DATABASE_URL"] = url
    eng = create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:  # visibility map and fresh statistics, as autovacuum would leave them
        c.execute(text("VACUUM ANALYZE"))
    eng.dispose()
    _reset()
    from core.db import session_scope
    from core.models import AIJobUsage, UsageDaily

    with session_scope() as s:
        n = s.scalar(select(func.count()).select_from(AIJobUsage))
        r = s.scalar(select(func.count()).select_from(UsageDaily))
    print(f"database {DB_NAME}: {n:,} usage records, {r:,} rollup rows")
    time_analytics()
    time_pages()
    if not args.no_browser:
        dashboard_memory(url)


if __name__ == "__main__":
    main()
