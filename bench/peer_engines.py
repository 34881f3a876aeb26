"""The Overview's figures in DuckDB and in chDB (ClickHouse) over a Parquet export of the ledger, timed.

Run by `bench.peers` with the bench virtualenv's Python (duckdb and chdb are bench-only dependencies, see
requirements-bench.txt); imports nothing of the product. Reads one JSON object on stdin:

    {"parquet": PATH, "now": ISO, "days": [30, 120], "runs": 5, "engines": ["duckdb", "chdb"]}

and writes one JSON object on stdout: per engine and window, the milliseconds of each run and the figures
(every money value an exact decimal string).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal

# What get_usage_dashboard computes over [now - days, now]: totals, per provider, model, operation, brand, day and
# day x provider, with failed / timed-out / unpriced counts; the previous period's totals; the ten costliest rows.
# GROUPING() tells the sets apart (1 = the column is rolled up), in both engines.
SETS = {
    "totals": (),
    "provider": ("provider_name",),
    "model": ("provider_name", "model_name"),
    "operation": ("operation",),
    "brand": ("brand_id",),
    "day": ("day",),
    "day_provider": ("day", "provider_name"),
}
COLUMNS = ("day", "provider_name", "model_name", "operation", "brand_id")
MICRO = Decimal("0.000001")
MEASURES = """count(*) AS jobs, sum(total_tokens) AS tokens, sum(total_cost) AS cost,
       sum(execution_ms) AS exec_ms, count(execution_ms) AS timed, sum(success_rate) AS success_sum,
       sum(error_count) AS errors, sum(CASE WHEN job_status = 'failed' THEN 1 ELSE 0 END) AS failed,
       sum(CASE WHEN job_status = 'timeout' THEN 1 ELSE 0 END) AS timeouts,
       sum(CASE WHEN pricing_status = 'unpriced' THEN 1 ELSE 0 END) AS unpriced"""


def grouping_sql(source: str, day: str, start: str, end: str) -> str:
    sets = ", ".join("(" + ", ".join(cols) + ")" for cols in SETS.values())
    cols = ", ".join(COLUMNS)
    return f"""SELECT GROUPING({cols}) AS g, {cols}, {MEASURES}
FROM (SELECT {day} AS day, * FROM {source} WHERE created_at >= {start} AND created_at <= {end}) AS w
GROUP BY GROUPING SETS ({sets})"""


def previous_sql(source: str, start: str, end: str) -> str:
    return (
        f"SELECT count(*) AS jobs, sum(total_tokens) AS tokens, sum(total_cost) AS cost FROM {source} "
        f"WHERE created_at >= {start} AND created_at < {end}"
    )


def top_sql(source: str, start: str, end: str) -> str:
    return (
        f"SELECT id, total_cost FROM {source} WHERE created_at >= {start} AND created_at <= {end} "
        "ORDER BY total_cost DESC, id DESC LIMIT 10"
    )


def set_name(g: int) -> str:
    """The grouping set of a GROUPING(...) bitmask over COLUMNS (leftmost column = highest bit)."""
    present = tuple(c for i, c in enumerate(COLUMNS) if not g >> (len(COLUMNS) - 1 - i) & 1)
    return next(name for name, cols in SETS.items() if set(cols) == set(present))


def figures(rows: list[dict], prev: dict, top: list[dict]) -> dict:
    """{set: {key: [jobs, tokens, cost]}}, the previous totals and the top ids, as JSON-able exact values."""
    out: dict = {name: {} for name in SETS}
    for r in rows:
        name = set_name(int(r["g"]))
        key = "|".join(str(r[c]) for c in SETS[name])
        out[name][key] = [
            int(r["jobs"]),
            int(r["tokens"] or 0),
            str(Decimal(r["cost"] or 0).quantize(MICRO)),
            int(r["failed"]),
            int(r["timeouts"]),
            int(r["unpriced"]),
        ]
    out["previous"] = [int(prev["jobs"]), int(prev["tokens"] or 0), str(Decimal(prev["cost"] or 0).quantize(MICRO))]
    out["top"] = [[int(t["id"]), str(Decimal(t["total_cost"]).quantize(MICRO))] for t in top]
    return out


class DuckDB:
    name = "duckdb"

    def __init__(self, parquet: str):
        import duckdb

        self.version = duckdb.__version__
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.source = f"read_parquet('{parquet}')"
        self.day = "CAST(created_at AS DATE)"

    def ts(self, t: datetime) -> str:
        return f"TIMESTAMPTZ '{t.isoformat()}'"

    def rows(self, sql: str) -> list[dict]:
        cur = self.con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


class ChDB:
    name = "chdb"

    def __init__(self, parquet: str):
        import chdb

        self.version = chdb.__version__
        self.query = chdb.query
        self.source = f"file('{parquet}', Parquet)"
        self.day = "toDate(created_at, 'UTC')"

    def ts(self, t: datetime) -> str:
        return f"toDateTime64('{t.strftime('%Y-%m-%d %H:%M:%S.%f')}', 6, 'UTC')"

    def rows(self, sql: str) -> list[dict]:
        return self.query(sql + " SETTINGS session_timezone = 'UTC'", "ArrowTable").to_pylist()


def overview(engine, now: datetime, days: int) -> dict:
    start = now - timedelta(days=days)
    s, e, p = engine.ts(start), engine.ts(now), engine.ts(start - timedelta(days=days))
    rows = engine.rows(grouping_sql(engine.source, engine.day, s, e))
    prev = engine.rows(previous_sql(engine.source, p, s))[0]
    top = engine.rows(top_sql(engine.source, s, e))
    return figures(rows, prev, top)


def main() -> None:
    args = json.load(sys.stdin)
    now = datetime.fromisoformat(args["now"])
    out: dict = {}
    for cls in (DuckDB, ChDB):
        if cls.name not in args.get("engines", ["duckdb", "chdb"]):
            continue
        engine = cls(args["parquet"])
        result = out[cls.name] = {"version": engine.version, "windows": {}}
        for days in args["days"]:
            overview(engine, now, days)  # a first run: files in the page cache, engine warmed up
            times, figs = [], None
            for _ in range(args["runs"]):
                t = time.perf_counter()
                figs = overview(engine, now, days)
                times.append((time.perf_counter() - t) * 1000)
            result["windows"][str(days)] = {"ms": times, "median_ms": statistics.median(times), "figures": figs}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
