"""Scale benchmark against a generated ledger (`python -m bench.generate` first): one table of every figure
with its target.

    python -m bench.scale [--db aium_scale] [--runs 5] [--ingest-rows 500000] [--no-browser] [--no-ingest]

Measured in one run (medians, so that the noise of a busy 2-core machine does not decide):
- each analytics function over 30 and 120 days, unfiltered and filtered by company and by provider, next to the
  plain GROUP BY over the raw ledger (no rollup) that computes the same overview figures for the same range and
  filter, with the session settings the product's reads use (its time with the server's defaults is noted); the
  ratio is plain / function. The dashboard and efficiency views also run with a window opened at 12:00 UTC, the
  time of day whose partial first day holds the most raw rows;
- each dashboard page's AppTest run (st.cache_data cleared before each run), `check_alerts`;
- peak RSS (VmHWM) of a real `streamlit run dashboard.py` process after every page was opened twice in headless
  Chromium (AppTest in a subprocess when Chromium is missing);
- bulk ingest of --ingest-rows extra records through `core.ingest.frames.ingest_frames`, spread over the last 120
  days (a backfill) then over the last day (live traffic), and 300 `record_usage` calls, into a company of their
  own ("Bench Ingest") that is deleted afterwards (with its rollup rows, then VACUUM), so the database stays as
  generated.
Figures are printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.common import PG_ADMIN

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["overview", "costs", "trends", "efficiency", "stats", "usage", "alerts", "settings"]
BENCH_COMPANY = "Bench Ingest"
FILTERS = {"": {}, "company": {"company": "Humari"}, "provider": {"provider": "openai"}}
T30_MS, T120_MS, MIN_RATIO = 100, 300, 15
PAGE_S, MEMORY_MB, ALERTS_S, INGEST_PER_S, RECORD_MS = 1.0, 300, 2.0, 100_000, 5.0

# The overview's figures (day x provider x model x status x pricing) straight from the raw ledger.
PLAIN_SQL = """
SELECT (created_at AT TIME ZONE 'UTC')::date AS day, provider_name, model_name, job_status, pricing_status,
       count(*) AS jobs, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(total_tokens) AS total_tokens, sum(cached_tokens) AS cached_tokens, sum(cost_input) AS cost_input,
       sum(cost_output) AS cost_output, sum(total_cost) AS total_cost, sum(execution_ms) AS execution_ms,
       sum(success_rate) AS success_sum, sum(error_count) AS error_count
FROM ai_job_usage
WHERE created_at >= :start AND created_at <= :end {extra}
GROUP BY 1, 2, 3, 4, 5
"""


@dataclass
class Row:
    measure: str
    span: str = ""
    filt: str = ""
    value: float | None = None
    unit: str = "ms"
    target: float | None = None
    higher_is_better: bool = False
    plain_ms: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.plain_ms / self.value if self.plain_ms and self.value else None

    @property
    def passed(self) -> bool | None:
        if self.value is None or self.target is None:
            return None
        ok = self.value >= self.target if self.higher_is_better else self.value <= self.target
        if self.plain_ms is not None:
            ok = ok and (self.ratio or 0) >= MIN_RATIO
        return ok


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def use_database(name: str) -> str:
    from core import config
    from core.storage.db import dispose_engines

    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    os.environ["DATABASE_URL"] = url
    # Local mode (no login): a developer's users file or SSO secrets must not gate the page runs.
    os.environ["USERS_FILE"] = "/nonexistent/aium-bench-users.json"
    os.environ["AUTH_SECRETS_FILE"] = "/nonexistent/aium-bench-secrets.toml"
    os.environ.pop("NOTIFY_URLS", None)
    os.environ.pop("ADMIN_NOTIFY_URLS", None)
    config.reset_settings()
    dispose_engines()
    return url


# -- analytics against the plain GROUP BY -------------------------------------------------------------------

def plain_group_by(conn, now: datetime, days: int, filt: dict, tuned: bool = True) -> list:
    """The overview's figures by a GROUP BY over the raw ledger; `tuned`: in a transaction with the settings the
    product's own reads use (core.storage.db.READ_SETTINGS: no JIT, more work_mem), else with the server's defaults."""
    from core.storage.db import READ_SETTINGS

    with conn.begin():
        if tuned:
            for name, value in READ_SETTINGS.items():
                conn.execute(text(f"SET LOCAL {name} = '{value}'"))
        return _plain(conn, now, days, filt)


def _plain(conn, now: datetime, days: int, filt: dict) -> list:
    extra, params = "", {"start": now - timedelta(days=days), "end": now}
    if "company" in filt:
        extra += " AND company_id = (SELECT id FROM companies WHERE name = :company)"
        params["company"] = filt["company"]
    if "provider" in filt:
        extra += " AND provider_name = :provider"
        params["provider"] = filt["provider"]
    return conn.execute(text(PLAIN_SQL.format(extra=extra)), params).all()


def analytics_rows(url: str, now: datetime, runs: int) -> list[Row]:
    from core import analytics
    from core.storage.db import session_scope

    def since(days: int) -> str:
        return (now - timedelta(days=days)).date().isoformat()

    def usage_filters(filt: dict) -> dict:
        return {"company": filt.get("company"), "provider_name": filt.get("provider")}

    rows: list[Row] = []
    engine = create_engine(url)
    plain: dict[tuple[int, str], float] = {}
    with engine.connect() as conn:
        for days in (30, 120):
            for fname, filt in FILTERS.items():
                log(f"plain GROUP BY {days} d {fname or 'unfiltered'}")
                n = max(3, runs // 2)
                plain[(days, fname)] = median_ms(lambda d=days, f=filt: plain_group_by(conn, now, d, f), n)
                default_ms = median_ms(lambda d=days, f=filt: plain_group_by(conn, now, d, f, tuned=False), n)
                result = plain_group_by(conn, now, days, filt)
                d = analytics.get_usage_dashboard(days=days, now=now, **filt)
                same = (sum(r.jobs for r in result) == d["totals"]["jobs"]
                        and sum(r.total_tokens for r in result) == d["totals"]["tokens"]
                        and sum((r.total_cost for r in result), Decimal(0)) == Decimal(d["totals"]["cost"]))
                rows.append(Row("plain GROUP BY (overview figures, raw ledger)", f"{days} d", fname,
                                plain[(days, fname)], note=(
                                    f"server defaults: {default_ms:.0f} ms; "
                                    + ("same totals as get_usage_dashboard" if same else "TOTALS DIFFER"))))
    engine.dispose()
    with session_scope() as s:
        some_id = s.scalar(text("SELECT max(id) / 2 FROM ai_job_usage")) or 1

    cases: list[tuple[str, int, str, Callable[[], object]]] = []
    for days in (30, 120):
        for fname, filt in FILTERS.items():
            cases += [
                ("get_usage_dashboard", days, fname,
                 lambda days=days, filt=filt: analytics.get_usage_dashboard(days=days, now=now, **filt)),
                ("get_efficiency", days, fname,
                 lambda days=days, filt=filt: analytics.get_efficiency(days=days, now=now, **filt)),
                ("list_usage (page 1 since start)", days, fname,
                 lambda days=days, filt=filt: analytics.list_usage(created_at__gte=since(days),
                                                                   **usage_filters(filt))),
                ("top 10 costliest (list_usage -total_cost)", days, fname,
                 lambda days=days, filt=filt: analytics.list_usage(page_size=10, ordering="-total_cost",
                                                                   created_at__gte=since(days),
                                                                   **usage_filters(filt))),
            ]
    for fname, filt in FILTERS.items():
        cases += [
            ("get_cost_breakdown (this month)", 30, fname,
             lambda filt=filt: analytics.get_cost_breakdown(now=now, **filt)),
            ("get_usage_trends (12 weeks, cost)", 120, fname,
             lambda filt=filt: analytics.get_usage_trends(period="week", metric="cost", now=now, **filt)),
            ("get_usage_trends (12 months, tokens)", 120, fname,
             lambda filt=filt: analytics.get_usage_trends(period="month", metric="tokens", now=now, **filt)),
            ("get_usage_stats (lifetime)", 120, fname,
             lambda filt=filt: analytics.get_usage_stats(now=now, **filt)),
            ("list_usage (whole ledger, page 1)", 120, fname,
             lambda filt=filt: analytics.list_usage(**usage_filters(filt))),
            ("list_usage (page 200, status=completed)", 120, fname,
             lambda filt=filt: analytics.list_usage(page=200, ai_job__status="completed", **usage_filters(filt))),
        ]
    # A window opened at 12:00 UTC reads the most raw rows (half of its first day, and of the previous period's
    # first day); "now" one day ahead keeps the rest of the plan as it would be at noon today.
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(days=1)
    for days in (30, 120):
        cases += [("get_usage_dashboard at 12:00 UTC", days, "",
                   lambda days=days: analytics.get_usage_dashboard(days=days, now=noon)),
                  ("get_efficiency at 12:00 UTC", days, "",
                   lambda days=days: analytics.get_efficiency(days=days, now=noon))]
    cases += [("filter_options", 120, "", lambda: analytics.filter_options()),
              ("filter_options", 120, "company", lambda: analytics.filter_options(company="Humari")),
              ("unpriced_models", 120, "", lambda: analytics.unpriced_models()),
              ("get_usage (one id)", 30, "", lambda: analytics.get_usage(some_id))]
    spans = {"get_cost_breakdown (this month)": "month", "get_usage_trends (12 weeks, cost)": "12 wk",
             "get_usage_trends (12 months, tokens)": "12 mo", "get_usage_stats (lifetime)": "all",
             "list_usage (whole ledger, page 1)": "all", "list_usage (page 200, status=completed)": "all",
             "filter_options": "all", "unpriced_models": "all", "get_usage (one id)": "-"}
    for name, days, fname, fn in cases:
        log(f"{name} {days} d {fname or 'unfiltered'}")
        ms = median_ms(fn, runs)
        rows.append(Row(name, spans.get(name, f"{days} d"), fname, ms, target=T30_MS if days == 30 else T120_MS,
                        plain_ms=plain[(days, fname)]))
    return rows


# -- pages, alerts, memory ----------------------------------------------------------------------------------

def page_rows(runs: int) -> list[Row]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    rows = []
    for page in PAGES:
        log(f"AppTest {page}")
        times = []
        for _ in range(runs):
            st.cache_data.clear()
            at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
            if page != "overview":
                at.switch_page(f"pages/{page}.py")
            t = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t)
            if at.exception:
                raise RuntimeError(f"{page}: {at.exception[0].value}")
        rows.append(Row(f"page {page} (AppTest run, cache cleared)", "", "", statistics.median(times), "s",
                        PAGE_S))
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
    from tests.browser import ARGS, CHROMIUM, streamlit_server

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
    code = ("import resource, streamlit as st\nfrom streamlit.testing.v1 import AppTest\n"
            f"for _ in range(2):\n  for p in {PAGES!r}:\n"
            f"    at = AppTest.from_file({str(ROOT / 'dashboard.py')!r}, default_timeout=120)\n"
            "    p == 'overview' or at.switch_page(f'pages/{p}.py')\n    at.run()\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=os.environ.copy(), capture_output=True,
                         text=True, check=True)
    return Row("dashboard process peak RSS (AppTest subprocess)", "", "", float(out.stdout.split()[-1]), "MB",
               MEMORY_MB)


# -- writes: bulk ingest and record_usage, then removed ------------------------------------------------------

def ingest_rows(url: str, rows: int) -> list[Row]:
    """Bulk ingest twice, each into a new company removed afterwards: a backfill spread over the last 120 days
    (every time-led index takes inserts along its length) and the last day's records (live traffic)."""
    from bench.ingest import single

    out = [ingest_row(url, rows, 120, "backfill"), ingest_row(url, rows, 1, "live")]
    log("record_usage x 300")
    out.append(Row("record_usage (one call, own transaction)", "", "", single("scale", 300, company=BENCH_COMPANY),
                   "ms", RECORD_MS))
    remove_bench_company(url)
    return out


def ingest_row(url: str, rows: int, days: int, kind: str) -> Row:
    from bench.generate import frames, ingest_frames

    remove_bench_company(url)
    now = datetime.now(UTC)
    log(f"bulk ingest of {rows:,} records over {days} d into {BENCH_COMPANY!r}")
    engine = create_engine(url)
    with engine.connect() as c:
        wal0 = c.scalar(text("SELECT pg_current_wal_lsn()"))
    stored, spent = ingest_frames(frames(rows, days, int(now.timestamp()), now - timedelta(minutes=2), 200_000,
                                         f"scale-{kind}-{now:%Y%m%d%H%M%S}-", company=BENCH_COMPANY), now)
    with engine.connect() as c:  # WAL written meanwhile (other sessions' writes included, if any)
        wal = c.scalar(text("SELECT pg_current_wal_lsn() - CAST(:lsn AS pg_lsn)"), {"lsn": wal0})
    engine.dispose()
    return Row(f"bulk ingest_frame ({stored:,} records, {days} d: {kind})", "", "", stored / spent, "rec/s",
               INGEST_PER_S, higher_is_better=True, note=f"WAL {int(wal) / max(stored, 1):,.0f} bytes/record")


def recount_totals(url: str) -> None:
    """The write guard's lifetime totals summed again after rollup rows were deleted by hand."""
    from core.storage import headroom
    from core.storage.db import get_session

    with get_session(url) as s, s.begin():
        headroom.recount(s)


def remove_bench_company(url: str) -> None:
    """Delete the bench company's records and rollup rows (nothing else holds them), then VACUUM."""
    log(f"removing {BENCH_COMPANY!r} and vacuuming")
    engine = create_engine(url)
    with engine.begin() as c:
        cid = c.scalar(text("SELECT id FROM companies WHERE name = :n"), {"n": BENCH_COMPANY})
        if cid is not None:
            c.execute(text("DELETE FROM ai_jobs WHERE id IN (SELECT ai_job_id FROM ai_job_usage "
                           "WHERE company_id = :c)"), {"c": cid})
            c.execute(text("DELETE FROM ai_job_usage WHERE company_id = :c"), {"c": cid})
            c.execute(text("DELETE FROM usage_daily WHERE company_id = :c"), {"c": cid})
            c.execute(text("DELETE FROM usage_daily_model WHERE company_id = :c"), {"c": cid})
            c.execute(text("DELETE FROM usage_hourly WHERE company_id = :c"), {"c": cid})
            c.execute(text("DELETE FROM companies WHERE id = :c"), {"c": cid})  # brands, alerts: cascade
    if cid is not None:
        recount_totals(url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE ai_jobs, ai_job_usage, usage_daily, usage_daily_model, usage_hourly"))
    engine.dispose()


# -- the table ----------------------------------------------------------------------------------------------

def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "rec/s":
        return f"{value:,.0f}/s"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "MB":
        return f"{value:.0f} MB"
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def print_table(rows: list[Row], header: str) -> None:
    print(header)
    cols = ("measure", "range", "filter", "median", "target", "plain GROUP BY", "plain/this", "result")
    cells = []
    for r in rows:
        target = "-" if r.target is None else (("≥ " if r.higher_is_better else "≤ ") + fmt(r.target, r.unit))
        if r.plain_ms is not None:
            target += f", ≥{MIN_RATIO}×"
        result = {None: "", True: "PASS", False: "FAIL"}[r.passed]
        cells.append((r.measure, r.span, r.filt, fmt(r.value, r.unit), target,
                      fmt(r.plain_ms, "ms") if r.plain_ms is not None else "",
                      f"{r.ratio:.0f}×" if r.ratio is not None else "", (result + " " + r.note).strip()))
    widths = [max(len(c[i]) for c in [cols, *cells]) for i in range(len(cols))]
    line = "  ".join(f"{{:<{w}}}" if i in (0, 1, 2, 7) else f"{{:>{w}}}" for i, w in enumerate(widths))
    print(line.format(*cols))
    print("  ".join("-" * w for w in widths))
    for c in cells:
        print(line.format(*c))
    verdicts = [r.passed for r in rows if r.passed is not None]
    print(f"\n{sum(verdicts)} PASS, {len(verdicts) - sum(verdicts)} FAIL")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="aium_scale", help="generated PostgreSQL database (python -m bench.generate)")
    ap.add_argument("--runs", type=int, default=5, help="runs per analytics function (the median is shown)")
    ap.add_argument("--page-runs", type=int, default=3)
    ap.add_argument("--ingest-rows", type=int, default=500_000)
    ap.add_argument("--no-pages", action="store_true", help="skip the AppTest page runs")
    ap.add_argument("--no-browser", action="store_true", help="skip the dashboard process memory")
    ap.add_argument("--no-ingest", action="store_true", help="skip bulk ingest and record_usage")
    args = ap.parse_args()
    url = use_database(args.db)
    from core.storage.db import migrate

    migrate(url)  # now, not inside a page run (the dashboard migrates on start)
    remove_bench_company(url)  # left over by an interrupted run
    engine = create_engine(url)
    with engine.connect() as c:
        records = c.scalar(text("SELECT count(*) FROM ai_job_usage"))
        rollup = c.scalar(text("SELECT count(*) FROM usage_daily"))
        size = c.scalar(text("SELECT pg_size_pretty(pg_database_size(current_database()))"))
    engine.dispose()
    now = datetime.now(UTC)
    rows = analytics_rows(url, now, args.runs)
    if not args.no_pages:
        rows += page_rows(args.page_runs)
    rows.append(alerts_row(3))
    if not args.no_browser:
        rows.append(memory_row(url))
    if not args.no_ingest:
        rows += ingest_rows(url, args.ingest_rows)
    print_table(rows, f"\nPostgreSQL database {args.db}: {records:,} usage records, {rollup:,} rollup rows, "
                      f"{size}; medians of {args.runs} runs (pages {args.page_runs}); now = {now:%Y-%m-%d %H:%M} UTC\n")


if __name__ == "__main__":
    main()
