"""The Overview against the engines a user would pick instead, on the same records, in one run with one `now`.

    python -m bench.peers [--db aium_scale] [--kind postgresql|sqlite] [--days 30 120] [--runs 5]
                          [--parquet /tmp/NAME.parquet] [--python /work/bench-venv/bin/python]

1. Exports the generated ledger (`python -m bench.generate`) to Parquet with pyarrow, in time order with row
   groups of 122,880 rows (what DuckDB writes itself), so that both engines skip the row groups outside the window
   (an export that already matches the ledger's count and last id is kept).
2. Times, over [now - days, now]: the product's `core.analytics.get_usage_dashboard`; the same figures (totals,
   per provider, model, operation, brand, day and day x provider, failed / timed-out / unpriced counts, the
   previous period's totals, the ten costliest rows) in DuckDB and in chDB on the Parquet file, and by the plain
   GROUP BY on the raw ledger (PostgreSQL: GROUPING SETS with the product's read settings; SQLite, which has no
   GROUPING SETS: one GROUP BY on every dimension, rolled up in Python).
3. Checks that the four agree on every group's jobs, tokens and cost (to the micro-dollar) and on the ten
   costliest rows, and prints medians of --runs with the load average beside each.

DuckDB and chDB run in their own virtualenv (bench-only dependencies, never the product's): `make bench-venv`
creates it (.bench-venv, from requirements-bench.txt); --python or BENCH_PYTHON points at another one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.common import load_average, use_database
from bench.peer_engines import COLUMNS, SETS, figures, grouping_sql, previous_sql, top_sql

ROOT = Path(__file__).resolve().parent.parent
ROW_GROUP = 122_880
ENGINES = ("duckdb", "chdb")
_MICRO = Decimal("0.000001")


def bench_python(explicit: str | None = None) -> str:
    for candidate in (
        explicit,
        os.environ.get("BENCH_PYTHON"),
        str(ROOT / ".bench-venv/bin/python"),
        "/work/bench-venv/bin/python",
    ):
        if candidate and Path(candidate).exists():
            return candidate
    raise SystemExit("no virtualenv with duckdb and chdb: run `make bench-venv` (or pass --python)")


# -- export ---------------------------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "id",
    "created_at",
    "company_id",
    "brand_id",
    "provider_name",
    "model_name",
    "operation",
    "job_status",
    "pricing_status",
    "total_tokens",
    "total_cost",
    "execution_ms",
    "success_rate",
    "error_count",
)


def _schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.int64()),
            ("created_at", pa.timestamp("us", tz="UTC")),
            ("company_id", pa.int32()),
            ("brand_id", pa.int32()),
            ("provider_name", pa.string()),
            ("model_name", pa.string()),
            ("operation", pa.string()),
            ("job_status", pa.string()),
            ("pricing_status", pa.string()),
            ("total_tokens", pa.int64()),
            ("total_cost", pa.decimal128(18, 6)),
            ("execution_ms", pa.int64()),
            ("success_rate", pa.float64()),
            ("error_count", pa.int32()),
        ]
    )


def _signature(url: str) -> dict:
    engine = create_engine(url)
    with engine.connect() as c:
        count, last = c.execute(text("SELECT count(*), max(id) FROM ai_job_usage")).one()
    engine.dispose()
    return {"url": url, "records": int(count), "last_id": int(last or 0)}


def export_parquet(url: str, kind: str, path: Path) -> tuple[int, float, bool]:
    """The ledger's rows in Parquet at `path` (kept when it matches the ledger); (records, seconds, reused)."""
    sig = _signature(url)
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists() and json.loads(meta.read_text()) == sig:
        return sig["records"], 0.0, True
    t = time.perf_counter()
    tmp = path.with_suffix(".tmp.parquet")
    (_export_postgresql if kind == "postgresql" else _export_sqlite)(url, tmp)
    tmp.replace(path)
    meta.write_text(json.dumps(sig))
    return sig["records"], time.perf_counter() - t, False


def _export_postgresql(url: str, out: Path) -> None:
    """COPY in time order to a CSV file, then pyarrow's streaming CSV reader into Parquet."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    csv_path = out.with_suffix(".csv")
    cols = ", ".join(
        "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')" if c == "created_at" else c
        for c in EXPORT_COLUMNS
    )
    engine = create_engine(url)
    raw = engine.raw_connection()
    try:
        with (
            raw.driver_connection.cursor() as cur,
            open(csv_path, "wb") as fh,
            cur.copy(
                f"COPY (SELECT {cols} FROM ai_job_usage ORDER BY created_at, id) TO STDOUT WITH (FORMAT csv)"
            ) as copy,
        ):
            for chunk in copy:
                fh.write(chunk)
    finally:
        raw.close()
        engine.dispose()
    schema = _schema()
    types = {f.name: (pa.timestamp("us") if f.name == "created_at" else f.type) for f in schema}
    reader = pacsv.open_csv(
        csv_path,
        read_options=pacsv.ReadOptions(column_names=list(EXPORT_COLUMNS), block_size=64 << 20),
        convert_options=pacsv.ConvertOptions(column_types=types),
    )
    with pq.ParquetWriter(out, schema) as writer:
        for batch in reader:
            writer.write_table(pa.Table.from_batches([batch]).cast(schema), row_group_size=ROW_GROUP)
    csv_path.unlink()


def _export_sqlite(url: str, out: Path) -> None:
    """Rows in time order in chunks; money (integer micro-dollars there) becomes decimal128(18, 6) unscaled as is."""
    import sqlite3

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema()
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    cur = con.execute(f"SELECT {', '.join(EXPORT_COLUMNS)} FROM ai_job_usage ORDER BY created_at, id")
    with pq.ParquetWriter(out, schema) as writer:
        while rows := cur.fetchmany(ROW_GROUP * 4):
            cols = list(zip(*rows))
            arrays = []
            for f, values in zip(schema, cols):
                if f.name == "total_cost":
                    micros = np.array(values, dtype=np.int64)
                    words = np.stack([micros, micros >> 63], axis=1)  # 128-bit two's complement, little-endian
                    arrays.append(pa.Array.from_buffers(f.type, len(micros), [None, pa.py_buffer(words.tobytes())]))
                elif f.name == "created_at":
                    arrays.append(pa.array(values, pa.string()).cast(pa.timestamp("us")).cast(f.type))
                else:
                    arrays.append(pa.array(values, f.type))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema), row_group_size=ROW_GROUP)
    con.close()


# -- the four measurements --------------------------------------------------------------------------------------


def product_figures(d: dict) -> dict:
    """get_usage_dashboard's result in the peers' form (peer_engines.figures)."""
    t, q = d["totals"], d["quality_metrics"]
    out: dict = {name: {} for name in SETS}
    out["totals"][""] = [t["jobs"], t["tokens"], t["cost"], q["failed_jobs"], q["timeout_jobs"], d["unpriced"]["jobs"]]
    for p in d["by_provider"]:
        out["provider"][p["provider"]] = [p["jobs"], p["tokens"], p["cost"], None, None, p["unpriced_jobs"]]
    for m in d["by_model"]:
        out["model"][f"{m['provider']}|{m['model']}"] = [m["jobs"], m["tokens"], m["cost"]]
    for o in d["by_operation"]:
        out["operation"][o["operation"]] = [o["calls"], o["tokens"], o["cost"]]
    for b in d["by_brand"]:
        out["brand"][str(b["brand_id"])] = [b["jobs"], b["tokens"], b["cost"]]
    for x in d["daily_breakdown"]:
        out["day"][x["date"]] = [x["jobs"], x["tokens"], x["cost"]]
    for x in d["daily_by_provider"]:
        out["day_provider"][f"{x['date']}|{x['provider']}"] = [x["jobs"], x["tokens"], x["cost"]]
    prev = d["comparison"]["previous_period"]
    out["previous"] = [prev["jobs"], prev["tokens"], prev["cost"]]
    out["top"] = [[j["usage_id"], j["cost"]] for j in d["top_costly_jobs"]]
    return out


def differences(reference: dict, other: dict) -> list[str]:
    """What `other` gives differently from `reference`: jobs, tokens and cost of every group (the counts the
    reference has too), the previous period's totals, the ten costliest rows."""
    diffs = []
    for name in SETS:
        ref, got = reference[name], other[name]
        if set(ref) != set(got):
            diffs.append(f"{name}: groups {sorted(set(ref) ^ set(got))[:3]}")
            continue
        for key, values in ref.items():
            pairs = zip(values, got[key])
            if any(a is not None and b is not None and a != b for a, b in pairs):
                diffs.append(f"{name} {key!r}: {values} against {got[key]}")
    for name in ("previous", "top"):
        if reference[name] != other[name]:
            diffs.append(f"{name}: {reference[name]} against {other[name]}")
    return diffs


def _plain_postgresql(conn, now: datetime, days: int) -> dict:
    from core.storage.db import READ_SETTINGS

    start = now - timedelta(days=days)

    def ts(t: datetime) -> str:
        return f"TIMESTAMPTZ '{t.isoformat()}'"

    with conn.begin():
        for name, value in READ_SETTINGS.items():
            conn.execute(text(f"SET LOCAL {name} = '{value}'"))
        day = "CAST(timezone('UTC', created_at) AS DATE)"
        rows = [r._asdict() for r in conn.execute(text(grouping_sql("ai_job_usage", day, ts(start), ts(now))))]
        prev = conn.execute(text(previous_sql("ai_job_usage", ts(start - timedelta(days=days)), ts(start)))).one()
        top = [r._asdict() for r in conn.execute(text(top_sql("ai_job_usage", ts(start), ts(now))))]
    return figures(rows, prev._asdict(), top)


def _plain_sqlite(conn, now: datetime, days: int) -> dict:
    """SQLite has no GROUPING SETS: one GROUP BY on every dimension, each set summed from it in Python."""
    start = now - timedelta(days=days)

    def ts(t: datetime) -> str:
        return "'" + t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "'"

    cols = ", ".join(COLUMNS)
    measures = (
        "count(*), sum(total_tokens), sum(total_cost), "
        "sum(job_status = 'failed'), sum(job_status = 'timeout'), sum(pricing_status = 'unpriced')"
    )
    with conn.begin():
        fine = conn.execute(
            text(
                f"SELECT {cols}, {measures} FROM (SELECT date(created_at) AS day, * FROM ai_job_usage "
                f"WHERE created_at >= {ts(start)} AND created_at <= {ts(now)}) GROUP BY {cols}"
            )
        ).all()
        before = ts(start - timedelta(days=days))
        prev = conn.execute(
            text(
                f"SELECT count(*), sum(total_tokens), sum(total_cost) FROM ai_job_usage WHERE "
                f"created_at >= {before} AND created_at < {ts(start)}"
            )
        ).one()
        top = conn.execute(
            text(
                f"SELECT id, total_cost FROM ai_job_usage WHERE created_at >= {ts(start)} AND "
                f"created_at <= {ts(now)} ORDER BY total_cost DESC, id DESC LIMIT 10"
            )
        ).all()
    at = {c: i for i, c in enumerate(COLUMNS)}
    acc: dict[str, dict] = {name: defaultdict(lambda: [0, 0, 0, 0, 0, 0]) for name in SETS}
    for r in fine:
        for name, cols_ in SETS.items():
            cell = acc[name]["|".join(str(r[at[c]]) for c in cols_)]
            for i in range(6):
                cell[i] += r[len(COLUMNS) + i] or 0
    out: dict = {
        name: {k: [v[0], v[1], str(Decimal(v[2]).scaleb(-6).quantize(_MICRO)), *v[3:]] for k, v in groups.items()}
        for name, groups in acc.items()
    }
    out["previous"] = [prev[0], prev[1] or 0, str(Decimal(prev[2] or 0).scaleb(-6).quantize(_MICRO))]
    out["top"] = [[i, str(Decimal(c).scaleb(-6).quantize(_MICRO))] for i, c in top]
    return out


@dataclass
class Window:
    days: int
    product_ms: float = 0.0
    plain_ms: float = 0.0
    peers_ms: dict = field(default_factory=dict)  # engine -> median ms
    load: dict = field(default_factory=dict)  # measure -> load average after it
    diffs: dict = field(default_factory=dict)  # measure -> differences from the product's figures
    versions: dict = field(default_factory=dict)
    reference: dict = field(default_factory=dict)  # the product's figures

    def ratio(self, what: str) -> float | None:
        other = self.plain_ms if what == "plain" else self.peers_ms.get(what)
        return other / self.product_ms if other and self.product_ms else None


def measure(
    url: str, kind: str, now: datetime, days: list[int], runs: int, parquet: Path, python: str | None = None, log=print
) -> tuple[list[Window], str]:
    """Every window's four timings and agreement; returns the windows and a line about the export."""
    from core import analytics

    records, spent, reused = export_parquet(url, kind, parquet)
    export = (
        f"Parquet export of {records:,} records: "
        + ("kept (matches the ledger)" if reused else f"{spent:.0f} s")
        + f", {parquet.stat().st_size >> 20} MB"
    )
    log(export)
    windows = [Window(d) for d in days]
    engine = create_engine(url)
    plain = _plain_sqlite if kind == "sqlite" else _plain_postgresql
    with engine.connect() as conn:
        for w in windows:
            log(f"{w.days} d: product view")
            analytics.get_usage_dashboard(days=w.days, now=now)
            w.product_ms = _median_ms(lambda w=w: analytics.get_usage_dashboard(days=w.days, now=now), runs)
            w.load["product"] = load_average()
            reference = product_figures(analytics.get_usage_dashboard(days=w.days, now=now))
            log(f"{w.days} d: plain GROUP BY")
            w.plain_ms = _median_ms(lambda w=w: plain(conn, now, w.days), runs)
            w.load["plain"] = load_average()
            w.diffs["plain"] = differences(reference, plain(conn, now, w.days))
            w.reference = reference
    engine.dispose()
    log("DuckDB and chDB on the Parquet file")
    request = {"parquet": str(parquet), "now": now.isoformat(), "days": days, "runs": runs, "engines": list(ENGINES)}
    proc = subprocess.run(
        [bench_python(python), "-m", "bench.peer_engines"],
        cwd=ROOT,
        input=json.dumps(request),
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise RuntimeError(f"bench.peer_engines failed:\n{proc.stderr[-3000:]}")
    peers = json.loads(proc.stdout)
    after = load_average()
    for w in windows:
        for name, result in peers.items():
            got = result["windows"][str(w.days)]
            w.peers_ms[name] = got["median_ms"]
            w.load[name] = after
            w.versions[name] = result["version"]
            w.diffs[name] = differences(w.reference, got["figures"])
    return windows, export


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def print_windows(windows: list[Window], header: str) -> None:
    print(header)
    print(f"{'window':<8}{'measure':<34}{'median':>10}{'÷ product':>11}  {'load average (1, 5, 15 min)':<30}agree")
    for w in windows:
        lines = [("product get_usage_dashboard", w.product_ms, None, "product", [])]
        lines += [
            (
                f"{name} {w.versions.get(name, '')} on Parquet",
                w.peers_ms.get(name),
                w.ratio(name),
                name,
                w.diffs.get(name, []),
            )
            for name in ENGINES
        ]
        lines.append(("plain GROUP BY (raw ledger)", w.plain_ms, w.ratio("plain"), "plain", w.diffs.get("plain", [])))
        for label, ms, ratio, key, diffs in lines:
            agree = "" if key == "product" else ("same figures" if not diffs else f"DIFFER: {diffs[:2]}")
            print(
                f"{str(w.days) + ' d':<8}{label:<34}{_ms(ms):>10}{'' if ratio is None else f'{ratio:.1f}×':>11}  "
                f"{w.load.get(key, ''):<30}{agree}"
            )


def _ms(ms: float | None) -> str:
    return "-" if ms is None else (f"{ms:.1f} ms" if ms < 100 else f"{ms:,.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="aium_scale", help="generated database (python -m bench.generate)")
    ap.add_argument("--kind", choices=("postgresql", "sqlite"), default="postgresql")
    ap.add_argument("--days", type=int, nargs="+", default=[30, 120])
    ap.add_argument("--runs", type=int, default=5, help="runs of each measure (the median is shown)")
    ap.add_argument("--parquet", type=Path, help="export file (default /tmp/DB.parquet)")
    ap.add_argument("--python", help="Python of the virtualenv with duckdb and chdb (default: .bench-venv)")
    args = ap.parse_args()
    url = use_database(args.kind, args.db)
    now = datetime.now(UTC)
    parquet = args.parquet or Path(f"/tmp/{args.db}.parquet")
    windows, export = measure(
        url,
        args.kind,
        now,
        args.days,
        args.runs,
        parquet,
        args.python,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print_windows(
        windows,
        f"\n{args.kind} database {args.db}; {export}; medians of {args.runs} runs; now = {now:%Y-%m-%d %H:%M:%S} UTC\n",
    )
    bad = [(w.days, k) for w in windows for k, v in w.diffs.items() if v]
    if bad:
        raise SystemExit(f"figures differ: {bad}")


if __name__ == "__main__":
    main()
