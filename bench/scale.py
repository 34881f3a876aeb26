"""Scale benchmark against a generated ledger (`python -m bench.generate` first): one table of every figure
with its target, the load average beside each.

    python -m bench.scale [--db aium_scale] [--kind postgresql|sqlite] [--runs 5] [--ingest-rows 500000]
                          [--no-browser] [--no-ingest] [--no-peers] [--no-pages] [--now ISO]

Measured in one run (medians, so that the noise of a busy 2-core machine does not decide):
- the Overview against DuckDB and chDB on a Parquet export of the same records and against the plain GROUP BY,
  same `now`, figures checked equal (`bench.peers`), with the ratios;
- get_usage_dashboard's time in the database (cursor execute and fetch) and in Python;
- each analytics function over 30 and 120 days, unfiltered and filtered by company and by provider, next to the
  plain GROUP BY over the raw ledger (no rollup) that computes the same overview figures for the same range and
  filter, with the session settings the product's reads use (its time with the server's defaults is noted); the
  ratio is plain / function. The dashboard and efficiency views also run with a window opened at 12:00 UTC, the
  time of day whose partial first day holds the most raw rows;
- each dashboard page's AppTest run (st.cache_data cleared before each run; the first run of each page, which
  also imports and registers Streamlit's components as a server does once at its start, is not timed),
  `check_alerts`;
- peak RSS (VmHWM) of a real `streamlit run dashboard.py` process after every page was opened twice in headless
  Chromium (AppTest in a subprocess when Chromium is missing);
- bulk ingest of --ingest-rows extra records through `core.ingest.frames.ingest_frames`, spread over the last 120
  days (a backfill) then over the last day (live traffic), each as a share of what COPY of as many ready-made rows
  into the same ledger achieves (bench.copy_ceiling), measured just before it: the median of three such rounds;
  and 300 `record_usage` calls, into a company of their own ("Bench Ingest") that is deleted afterwards (with its
  rollup rows, then VACUUM), so the database stays as generated (PostgreSQL only).
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.common import load_average, machine_busy
from bench.common import use_database as use_generated
from bench.pages import alerts_row, memory_row, page_rows
from bench.table import (
    COPY_SHARE,
    PEER_RATIO,
    RECORD_MS,
    T30_MS,
    T120_MS,
    Row,
    log,
    median_ms,
    print_table,
)
from core.clock import utc_now
from core.ingest.files import BATCH

BENCH_COMPANY = "Bench Ingest"
FILTERS = {"": {}, "company": {"company": "Humari"}, "provider": {"provider": "openai"}}

# The overview's figures (day x provider x model x status x pricing) straight from the raw ledger.
PLAIN_SQL = """
SELECT {day} AS day, provider_name, model_name, job_status, pricing_status,
       count(*) AS jobs, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
       sum(total_tokens) AS total_tokens, sum(cached_tokens) AS cached_tokens, sum(cost_input) AS cost_input,
       sum(cost_output) AS cost_output, sum(total_cost) AS total_cost, sum(execution_ms) AS execution_ms,
       sum(success_rate) AS success_sum, sum(error_count) AS error_count
FROM ai_job_usage
WHERE created_at >= :start AND created_at <= :end {extra}
GROUP BY 1, 2, 3, 4, 5
"""


def use_database(name: str, kind: str = "postgresql") -> str:
    return use_generated(kind, name)


# -- analytics against the plain GROUP BY -------------------------------------------------------------------


def plain_group_by(conn, now: datetime, days: int, filt: dict, tuned: bool = True) -> list:
    """The overview's figures by a GROUP BY over the raw ledger; `tuned`: in a transaction with the settings the
    product's own reads use (core.storage.db.READ_SETTINGS: no JIT, more work_mem), else with the server's defaults."""
    from core.storage.db import READ_SETTINGS

    with conn.begin():
        if tuned and conn.dialect.name == "postgresql":
            for name, value in READ_SETTINGS.items():
                conn.execute(text(f"SET LOCAL {name} = '{value}'"))
        return _plain(conn, now, days, filt)


def _plain(conn, now: datetime, days: int, filt: dict) -> list:
    sqlite = conn.dialect.name == "sqlite"
    extra, params = "", {"start": now - timedelta(days=days), "end": now}
    if sqlite:  # timestamps stored as naive UTC text
        params = {k: v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") for k, v in params.items()}
    if "company" in filt:
        extra += " AND company_id = (SELECT id FROM companies WHERE name = :company)"
        params["company"] = filt["company"]
    if "provider" in filt:
        extra += " AND provider_name = :provider"
        params["provider"] = filt["provider"]
    day = "date(created_at)" if sqlite else "(created_at AT TIME ZONE 'UTC')::date"
    return conn.execute(text(PLAIN_SQL.format(extra=extra, day=day)), params).all()


def _money(value, sqlite: bool) -> Decimal:
    """A plain SUM of money: integer micro-dollars on SQLite."""
    return Decimal(int(value or 0)).scaleb(-6) if sqlite else Decimal(value or 0)


def analytics_rows(url: str, now: datetime, runs: int, views_only: bool = False) -> list[Row]:
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
                sqlite = conn.dialect.name == "sqlite"
                same = (
                    sum(r.jobs for r in result) == d["totals"]["jobs"]
                    and sum(r.total_tokens for r in result) == d["totals"]["tokens"]
                    and sum((_money(r.total_cost, sqlite) for r in result), Decimal(0)) == Decimal(d["totals"]["cost"])
                )
                rows.append(
                    Row(
                        "plain GROUP BY (overview figures, raw ledger)",
                        f"{days} d",
                        fname,
                        plain[(days, fname)],
                        note=(
                            f"server defaults: {default_ms:.0f} ms; "
                            + ("same totals as get_usage_dashboard" if same else "TOTALS DIFFER")
                        ),
                    )
                )
    engine.dispose()
    with session_scope() as s:
        some_id = s.scalar(text("SELECT max(id) / 2 FROM ai_job_usage")) or 1

    cases: list[tuple[str, int, str, Callable[[], object]]] = []
    for days in (30, 120):
        for fname, filt in FILTERS.items():
            cases += [
                (
                    "get_usage_dashboard",
                    days,
                    fname,
                    lambda days=days, filt=filt: analytics.get_usage_dashboard(days=days, now=now, **filt),
                ),
                (
                    "get_efficiency",
                    days,
                    fname,
                    lambda days=days, filt=filt: analytics.get_efficiency(days=days, now=now, **filt),
                ),
                (
                    "list_usage (page 1 since start)",
                    days,
                    fname,
                    lambda days=days, filt=filt: analytics.list_usage(
                        created_at__gte=since(days), **usage_filters(filt)
                    ),
                ),
                (
                    "top 10 costliest (list_usage -total_cost)",
                    days,
                    fname,
                    lambda days=days, filt=filt: analytics.list_usage(
                        page_size=10, ordering="-total_cost", created_at__gte=since(days), **usage_filters(filt)
                    ),
                ),
            ]
    for fname, filt in FILTERS.items():
        cases += [
            (
                "get_cost_breakdown (this month)",
                30,
                fname,
                lambda filt=filt: analytics.get_cost_breakdown(now=now, **filt),
            ),
            (
                "get_usage_trends (12 weeks, cost)",
                120,
                fname,
                lambda filt=filt: analytics.get_usage_trends(period="week", metric="cost", now=now, **filt),
            ),
            (
                "get_usage_trends (12 months, tokens)",
                120,
                fname,
                lambda filt=filt: analytics.get_usage_trends(period="month", metric="tokens", now=now, **filt),
            ),
            ("get_usage_stats (lifetime)", 120, fname, lambda filt=filt: analytics.get_usage_stats(now=now, **filt)),
            (
                "get_budget_status (this month)",
                30,
                fname,
                lambda filt=filt: analytics.get_budget_status(now=now, **filt),
            ),
            (
                "list_usage (whole ledger, page 1)",
                120,
                fname,
                lambda filt=filt: analytics.list_usage(**usage_filters(filt)),
            ),
            (
                "list_usage (page 200, status=completed)",
                120,
                fname,
                lambda filt=filt: analytics.list_usage(page=200, ai_job__status="completed", **usage_filters(filt)),
            ),
        ]
    # A window opened at 12:00 UTC reads the most raw rows (half of its first day, and of the previous period's
    # first day); "now" one day ahead keeps the rest of the plan as it would be at noon today.
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(days=1)
    for days in (30, 120):
        cases += [
            (
                "get_usage_dashboard at 12:00 UTC",
                days,
                "",
                lambda days=days: analytics.get_usage_dashboard(days=days, now=noon),
            ),
            ("get_efficiency at 12:00 UTC", days, "", lambda days=days: analytics.get_efficiency(days=days, now=noon)),
        ]
    cases += [
        ("filter_options", 120, "", lambda: analytics.filter_options()),
        ("filter_options", 120, "company", lambda: analytics.filter_options(company="Humari")),
        ("unpriced_models", 120, "", lambda: analytics.unpriced_models()),
        ("get_usage (one id)", 30, "", lambda: analytics.get_usage(some_id)),
    ]
    spans = {
        "get_cost_breakdown (this month)": "month",
        "get_budget_status (this month)": "month",
        "get_usage_trends (12 weeks, cost)": "12 wk",
        "get_usage_trends (12 months, tokens)": "12 mo",
        "get_usage_stats (lifetime)": "all",
        "list_usage (whole ledger, page 1)": "all",
        "list_usage (page 200, status=completed)": "all",
        "filter_options": "all",
        "unpriced_models": "all",
        "get_usage (one id)": "-",
    }
    for name, days, fname, fn in cases:
        if views_only and (not name.startswith("get_") or name == "get_usage (one id)"):
            continue
        log(f"{name} {days} d {fname or 'unfiltered'}")
        ms = median_ms(fn, runs)
        rows.append(
            Row(
                name,
                spans.get(name, f"{days} d"),
                fname,
                ms,
                target=T30_MS if days == 30 else T120_MS,
                plain_ms=plain[(days, fname)],
            )
        )
    return rows


def split_rows(now: datetime, runs: int) -> list[Row]:
    """get_usage_dashboard's time in the database (the driver's execute and fetch of every statement, timed by
    SQLAlchemy's cursor events) and the rest, in Python; medians of `runs`."""
    from sqlalchemy import event

    from core import analytics
    from core.storage.db import get_engine

    spent = [0.0]

    def before(conn, *_):
        conn.info["bench_t0"] = time.perf_counter()

    def after(conn, *_):
        spent[0] += time.perf_counter() - conn.info.pop("bench_t0")

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    rows = []
    try:
        for days in (30, 120):
            log(f"get_usage_dashboard {days} d: database and Python")
            analytics.get_usage_dashboard(days=days, now=now)
            total, sql = [], []
            for _ in range(runs):
                spent[0] = 0.0
                t = time.perf_counter()
                analytics.get_usage_dashboard(days=days, now=now)
                total.append((time.perf_counter() - t) * 1000)
                sql.append(spent[0] * 1000)
            py = statistics.median(a - b for a, b in zip(total, sql))
            rows.append(Row("get_usage_dashboard: in the database", f"{days} d", "", statistics.median(sql)))
            rows.append(Row("get_usage_dashboard: in Python", f"{days} d", "", py))
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    return rows


def peer_rows(url: str, kind: str, db: str, now: datetime, runs: int) -> list[Row]:
    """bench.peers: the Overview against DuckDB, chDB and the plain GROUP BY, same records and `now`."""
    from bench.peers import ENGINES, measure

    windows, export = measure(url, kind, now, [30, 120], runs, Path(f"/tmp/{db}.parquet"), log=log)
    rows = []
    for w in windows:
        span = f"{w.days} d"
        rows.append(
            Row("Overview: product get_usage_dashboard", span, "", w.product_ms, load=w.load["product"], note=export)
        )
        for name in ENGINES:
            diffs = w.diffs.get(name, [])
            rows.append(
                Row(
                    f"Overview: {name} {w.versions.get(name, '')} on Parquet",
                    span,
                    "",
                    w.peers_ms.get(name),
                    target=None,
                    load=w.load[name],
                    note=(f"{w.ratio(name):.1f}× the product's time; " if w.ratio(name) else "")
                    + ("same figures" if not diffs else f"FIGURES DIFFER {diffs[:1]}"),
                )
            )
        diffs = w.diffs.get("plain", [])
        rows.append(
            Row(
                "Overview: plain GROUP BY (GROUPING SETS, raw ledger)",
                span,
                "",
                w.plain_ms,
                load=w.load["plain"],
                note=f"{w.ratio('plain'):.1f}× the product's time; "
                + ("same figures" if not diffs else f"FIGURES DIFFER {diffs[:1]}"),
            )
        )
        worst = min((w.ratio(name) or 0) for name in ENGINES)
        rows.append(
            Row(
                f"Overview: slower peer ÷ product (≥ {PEER_RATIO}×)",
                span,
                "",
                worst,
                "×",
                PEER_RATIO,
                higher_is_better=True,
                load=w.load["product"],
            )
        )
    return rows


# -- writes: bulk ingest and record_usage, then removed ------------------------------------------------------


def ingest_rows(url: str, rows: int) -> list[Row]:
    """Bulk ingest twice, each into a new company removed afterwards: a backfill spread over the last 120 days
    (every time-led index takes inserts along its length) and the last day's records (live traffic)."""
    from bench.ingest import single

    out = [ingest_row(url, rows, 120, "backfill"), ingest_row(url, rows, 1, "live")]
    log("record_usage x 300")
    out.append(
        Row(
            "record_usage (one call, own transaction)",
            "",
            "",
            single("scale", 300, company=BENCH_COMPANY),
            "ms",
            RECORD_MS,
        )
    )
    remove_bench_company(url)
    return out


PAIRS = 3  # ceiling-then-ingest rounds per case: the share is their median


def ingest_row(url: str, rows: int, days: int, kind: str, pairs: int = PAIRS) -> Row:
    """Bulk ingest of `rows` records over the last `days` days, next to what the server alone accepts by COPY of
    as many ready-made rows into the same ledger over two connections (bench.copy_ceiling, rolled back), measured
    just before it; `pairs` rounds of both. The figure is the median of the rounds' shares of their ceiling: this
    machine's disk makes one round's pair vary by ±10% either way, a round's share by ±15%."""
    from bench import copy_ceiling

    dsn = "host=127.0.0.1 user=postgres dbname=" + url.rsplit("/", 1)[1]
    log(f"COPY ceiling: warm-up over {days} d")
    copy_ceiling.case(dsn, min(rows, 100_000), days, 2, False)  # not counted
    rounds = []
    for i in range(pairs):
        remove_bench_company(url)
        log(f"round {i + 1}/{pairs}: COPY ceiling, {rows:,} ready-made records over {days} d, two connections")
        cpu: list[float] = []
        ceiling = copy_ceiling.case(dsn, rows, days, 2, False, cpu)
        rounds.append((ceiling, cpu[0] / rows * 1e6, *_ingest_once(url, rows, days, kind)))
    shares = sorted((r[2] / r[0], r) for r in rounds)
    share, (ceiling, ceiling_cpu, rate, stored, wal, busy, own) = shares[len(shares) // 2]
    return Row(
        f"bulk ingest_frames / COPY ceiling ({stored:,} records, {days} d: {kind})",
        "",
        "",
        share,
        "share",
        COPY_SHARE,
        higher_is_better=True,
        note=f"median of {pairs} rounds ({', '.join(f'{s:.2f}' for s, _ in shares)}); that round: "
        f"{rate:,.0f} records/s; COPY {ceiling:,.0f}/s; WAL {wal:,.0f} bytes/record; "
        f"CPU per record: COPY {ceiling_cpu:.1f} µs, ingest {busy:.1f} µs (this process {own:.1f})",
    )


def _ingest_once(url: str, rows: int, days: int, kind: str) -> tuple[float, int, float, float, float]:
    """One bulk ingest into the bench company: (records/s, stored, WAL bytes, machine CPU µs and this process's CPU
    µs per record)."""
    from bench.generate import frames, ingest_frames

    now = datetime.now(UTC)
    # The records are made before the clock starts, as the server's ready-made rows are: the share compares
    # ingest with COPY, not with the generator.
    made = list(
        frames(
            rows,
            days,
            int(now.timestamp()),
            now - timedelta(minutes=2),
            BATCH,  # records per transaction, as `python -m core import` writes them
            f"scale-{kind}-{now:%Y%m%d%H%M%S}-",
            company=BENCH_COMPANY,
        )
    )
    log(f"bulk ingest of {rows:,} records over {days} d into {BENCH_COMPANY!r}")
    engine = create_engine(url)
    with engine.connect() as c:
        wal0 = c.scalar(text("SELECT pg_current_wal_lsn()"))
    busy0, own0 = machine_busy(), time.process_time()
    stored, spent = ingest_frames(iter(made), now)
    own = (time.process_time() - own0) / max(stored, 1) * 1e6
    busy = (machine_busy() - busy0) / max(stored, 1) * 1e6
    with engine.connect() as c:  # WAL written meanwhile (other sessions' writes included, if any)
        wal = c.scalar(text("SELECT pg_current_wal_lsn() - CAST(:lsn AS pg_lsn)"), {"lsn": wal0})
    engine.dispose()
    return stored / spent, stored, int(wal) / max(stored, 1), busy, own


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
            c.execute(
                text("DELETE FROM ai_jobs WHERE id IN (SELECT ai_job_id FROM ai_job_usage WHERE company_id = :c)"),
                {"c": cid},
            )
            c.execute(text("DELETE FROM ai_job_usage WHERE company_id = :c"), {"c": cid})
            c.execute(text("DELETE FROM usage_daily WHERE company_id = :c"), {"c": cid})
            c.execute(text("DELETE FROM usage_daily_model WHERE company_id = :c"), {"c": cid})
            c.execute(text("DELETE FROM usage_daily_scope WHERE company_id = :c"), {"c": cid})
            c.execute(text("DELETE FROM usage_hourly WHERE company_id = :c"), {"c": cid})
            c.execute(text("DELETE FROM companies WHERE id = :c"), {"c": cid})  # brands, alerts: cascade
    if cid is not None:
        recount_totals(url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(
                text(
                    "VACUUM ANALYZE ai_jobs, ai_job_usage, usage_daily, usage_daily_model, usage_daily_scope, "
                    "usage_hourly"
                )
            )
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="aium_scale", help="generated database (python -m bench.generate)")
    ap.add_argument(
        "--kind",
        choices=("postgresql", "sqlite"),
        default="postgresql",
        help="PostgreSQL (default) or the SQLite file /tmp/DB.db (no bulk ingest there)",
    )
    ap.add_argument("--runs", type=int, default=5, help="runs per analytics function (the median is shown)")
    ap.add_argument("--page-runs", type=int, default=3)
    ap.add_argument("--ingest-rows", type=int, default=500_000)
    ap.add_argument("--no-pages", action="store_true", help="skip the AppTest page runs")
    ap.add_argument("--no-browser", action="store_true", help="skip the dashboard process memory")
    ap.add_argument("--no-ingest", action="store_true", help="skip bulk ingest and record_usage")
    ap.add_argument("--no-peers", action="store_true", help="skip DuckDB and chDB (bench.peers)")
    ap.add_argument(
        "--only-views",
        action="store_true",
        help="the analytics views only (no list_usage, pages, alerts, memory, ingest)",
    )
    ap.add_argument("--only-pages", action="store_true", help="the pages' AppTest runs only")
    ap.add_argument(
        "--now",
        type=datetime.fromisoformat,
        help="the views' clock (ISO, UTC): a ledger generated on the last day of a month, measured on the 1st, "
        "would show an empty month to date; the pages keep the real clock",
    )
    args = ap.parse_args()
    pg = args.kind == "postgresql"
    url = use_database(args.db, args.kind)
    from core.storage.db import migrate

    migrate(url)  # now, not inside a page run (the dashboard migrates on start)
    if pg:
        remove_bench_company(url)  # left over by an interrupted run
    engine = create_engine(url)
    with engine.connect() as c:
        records = c.scalar(text("SELECT count(*) FROM ai_job_usage"))
        rollup = c.scalar(text("SELECT count(*) FROM usage_daily"))
        size = (
            c.scalar(text("SELECT pg_size_pretty(pg_database_size(current_database()))"))
            if pg
            else f"{Path(url.removeprefix('sqlite:///')).stat().st_size >> 20} MB"
        )
    engine.dispose()
    now = utc_now(args.now)  # --now naive is UTC
    if args.only_pages:
        print_table(
            page_rows(args.page_runs),
            f"\n{args.kind} database {args.db}: {records:,} usage records; "
            f"medians of {args.page_runs} runs; load average {load_average()}\n",
        )
        return
    rows = [] if args.no_peers else peer_rows(url, args.kind, args.db, now, args.runs)
    rows += split_rows(now, args.runs)
    rows += analytics_rows(url, now, args.runs, views_only=args.only_views)
    if not args.no_pages and not args.only_views:
        rows += page_rows(args.page_runs)
    if not args.only_views:
        rows.append(alerts_row(3))
    if not args.no_browser and not args.only_views:
        rows.append(memory_row(url))
    if not args.no_ingest and not args.only_views and pg:
        rows += ingest_rows(url, args.ingest_rows)
    print_table(
        rows,
        f"\n{args.kind} database {args.db}: {records:,} usage records, {rollup:,} rollup rows, "
        f"{size}; medians of {args.runs} runs (pages {args.page_runs}); now = {now:%Y-%m-%d %H:%M} UTC; "
        f"load average at the start {load_average()}\n",
    )


if __name__ == "__main__":
    main()
