"""Migrations build exactly the schema the models describe, on both databases, and re-run harmlessly."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.storage.db import get_engine, migrate
from core.storage.models import Base


def _for_dialect(dialect: str):
    """Skip model indexes declared for the other database only (alembic ignores `ddl_if`)."""

    def include(obj, name, type_, reflected, compare_to):
        only = getattr(obj, "_ddl_if", None)
        return not (type_ == "index" and not reflected and only is not None and only.dialect != dialect)

    return include


def _schema_diff(db) -> list:
    with get_engine(db).connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": False, "include_object": _for_dialect(conn.dialect.name)}
        )
        return compare_metadata(ctx, Base.metadata)


def test_schema_matches_models_and_migrate_is_idempotent(db):
    migrate(db)  # second run: nothing to do, no error
    assert _schema_diff(db) == []


def test_ledger_indexes_per_database(db):
    """PostgreSQL gets the ingest-friendly indexes of migration 0004; SQLite keeps plain B-trees."""
    with get_engine(db).connect() as conn:
        if conn.dialect.name == "postgresql":
            defs = dict(
                conn.exec_driver_sql(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'ai_job_usage'"
                ).all()
            )
            assert "USING brin (created_at)" in defs["ix_usage_created"]
            assert "(timezone('UTC'::text, created_at))::date), total_cost)" in defs["ix_usage_day_cost"]
            assert "ix_usage_total_cost" not in defs
        else:
            names = {r[1] for r in conn.exec_driver_sql("PRAGMA index_list('ai_job_usage')").all()}
            assert {"ix_usage_created", "ix_usage_total_cost"} <= names
            assert "ix_usage_day_cost" not in names


def test_fresh_sqlite_file_is_created_with_its_folder(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'usage.db'}"
    migrate(url)
    assert (tmp_path / "nested" / "dir" / "usage.db").exists()
    with get_engine(url).connect() as conn:
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    assert version is not None


@pytest.mark.parametrize(
    ("revision", "table", "keys"),
    [("0004", "usage_daily_model", "NARROW_KEYS"), ("0012", "usage_daily_scope", "SCOPE_KEYS")],
)
def test_migrations_backfill_the_narrow_rollups_from_the_wide_one(db, revision, table, keys):
    """Down to the revision before a narrow rollup and up again: its backfill equals usage_daily summed by its key."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from sqlalchemy import select

    from core.ingest.checks import validate_record
    from core.ingest.record import ingest
    from core.storage import rollups as rollup
    from core.storage.db import session_scope
    from core.storage.models import UsageDaily, UsageDailyModel, UsageDailyScope

    model = {"usage_daily_model": UsageDailyModel, "usage_daily_scope": UsageDailyScope}[table]
    keys = getattr(rollup, keys)
    now = datetime(2025, 11, 20, 15, 30, tzinfo=UTC)
    with session_scope() as s:
        ingest(
            s,
            [
                validate_record(
                    {
                        "job_id": f"m{i}",
                        "created_at": now - timedelta(hours=i),
                        "provider": ["openai", "acme"][i % 2],
                        "model": ["gpt-4o-mini", "custom-1"][i % 2],
                        "input_tokens": 100 + i,
                        "output_tokens": 7,
                        "status": ["completed", "failed"][i % 5 == 0],
                        "company": ["Acme", "Beta"][i % 3 == 0],
                        "brand": f"b{i % 3}",
                        "operation": f"op{i % 4}",
                        "execution_time_seconds": None if i % 7 == 0 else i * 0.25,
                    },
                    now=now,
                )
                for i in range(60)
            ],
        )
    figures = ("jobs", "total_tokens", "total_cost", "execution_ms", "error_count")
    if revision >= "0009":  # before 0009 every job counted as timed: going down and up there resets the count
        figures += ("timed_jobs",)
    with session_scope() as s:
        expected: dict = {}
        for r in s.scalars(select(UsageDaily)):
            acc = expected.setdefault(tuple(getattr(r, k) for k in keys), [0, 0, Decimal(0)] + [0] * (len(figures) - 3))
            for i, f in enumerate(figures):
                acc[i] += getattr(r, f)
    _down_and_up(db, revision, table)
    with session_scope() as s:
        got = {tuple(getattr(r, k) for k in keys): [getattr(r, f) for f in figures] for r in s.scalars(select(model))}
        wide_rows = s.query(UsageDaily).count()
    assert got == expected
    assert 1 < len(got) < wide_rows  # the keys left out were summed away


def test_migration_0006_backfills_the_hourly_rollup_from_the_ledger(db):
    """Down to 0005 (no usage_hourly) and up again: the backfill equals the raw records summed by UTC hour."""
    from datetime import UTC, datetime, timedelta, timezone

    from sqlalchemy import select

    from core.ingest.checks import validate_record
    from core.ingest.record import ingest
    from core.storage import rollups as rollup
    from core.storage.db import session_scope
    from core.storage.models import UsageHourly

    now = datetime(2025, 11, 20, 15, 30, tzinfo=UTC)
    # 70 records 17 minutes apart, over two days, given in three zones; timed and measured, as every record was
    # before 0009 (going below it turns a value not measured into the 0 it used to be stored as).
    with session_scope() as s:
        ingest(
            s,
            [
                validate_record(
                    {
                        "job_id": f"h{i}",
                        "created_at": (now - timedelta(minutes=17 * i))
                        .astimezone(timezone(timedelta(hours=[0, 5, -8][i % 3])))
                        .isoformat(),
                        "provider": ["openai", "acme"][i % 2],
                        "model": ["gpt-4o-mini", "custom-1"][i % 2],
                        "input_tokens": 100 + i,
                        "output_tokens": 7,
                        "status": ["completed", "failed"][i % 11 == 0],
                        "execution_time_seconds": i % 4,
                        "memory_usage_mb": 64,
                        "company": "Acme",
                        "brand": "b1",
                        "operation": "chat",
                    },
                    now=now,
                )
                for i in range(70)
            ],
        )
    with session_scope() as s:
        expected = {
            tuple(getattr(r, k) for k in rollup.HOUR_KEYS): tuple(getattr(r, m) for m in rollup.MEASURES)
            for r in s.scalars(select(UsageHourly))
        }
    _down_and_up(db, "0005", "usage_hourly")
    with session_scope() as s:
        got = {
            tuple(getattr(r, k) for k in rollup.HOUR_KEYS): tuple(getattr(r, m) for m in rollup.MEASURES)
            for r in s.scalars(select(UsageHourly))
        }
    assert got == expected  # the backfill (SQL) equals what ingest wrote (Python), key and sum for sum
    assert len({k[:2] for k in got}) > 20 and max(v[0] for v in got.values()) > 1  # many hours, some shared


def test_migration_0007_takes_the_alerts_already_sent_as_taken_by_the_configured_channels(db, env, webhook):
    """Down to 0006 (no per-channel state) and up again: an upgrade announces nothing twice, and the reminder
    still comes NOTIFY_REPEAT_HOURS after the last message."""
    from datetime import timedelta

    from core.alerts import check_alerts
    from core.limits.budgets import set_budget
    from tests.helpers.alerts import NOW, spend

    env(NOTIFY_URLS=webhook.url(), NOTIFY_REPEAT_HOURS="24")
    set_budget("Acme", "100", provider="openai")
    spend("85", when=NOW - timedelta(hours=1))
    assert check_alerts(now=NOW)["notifications_sent"] == 1
    _down_and_up(db, "0006", "notify_channels")
    assert check_alerts(now=NOW + timedelta(minutes=15))["notifications_sent"] == 0
    assert len(webhook.received) == 1
    assert check_alerts(now=NOW + timedelta(hours=24))["notifications_sent"] == 1
    assert len(webhook.delivered) == 2 and "still open" in webhook.delivered[1]["title"]


def test_migration_0009_keeps_every_average_and_counts_existing_jobs_as_measured(db):
    """Existing records all hold a time and a memory (0 included: it was stored and counts as measured). Down to
    0008 (the schema those records were written under) and up again: the ledger and every average are unchanged,
    each rollup row counts all its jobs as measured, and a record without a time is then stored NULL."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import inspect, select

    from core.analytics import get_efficiency, get_usage_dashboard, get_usage_stats
    from core.ingest.checks import validate_record
    from core.ingest.record import ingest, record_usage
    from core.storage import rollups as rollup
    from core.storage.db import dispose_engines, session_scope
    from core.storage.models import AIJobUsage, UsageDaily, UsageDailyModel, UsageHourly

    now = datetime(2025, 11, 20, 15, 30, tzinfo=UTC)
    with session_scope() as s:
        ingest(
            s,
            [
                validate_record(
                    {
                        "job_id": f"e{i}",
                        "created_at": now - timedelta(hours=5 * i + 1),
                        "provider": ["openai", "acme"][i % 2],
                        "model": ["gpt-4o-mini", "custom-1"][i % 2],
                        "input_tokens": 100 + i,
                        "output_tokens": 7,
                        "execution_time_seconds": 0 if i % 7 == 0 else i * 0.37,
                        "memory_usage_mb": 0 if i % 5 == 0 else 64 + i,
                        "company": "Acme",
                        "brand": f"b{i % 2}",
                        "operation": "chat",
                    },
                    now=now,
                )
                for i in range(40)
            ],
        )

    def averages() -> dict:
        d = get_usage_dashboard(days=30, now=now)
        return {
            "totals": d["totals"]["avg_execution_time"],
            "quality": d["quality_metrics"]["avg_execution_time"],
            "daily": [(x["date"], x["avg_execution_time"]) for x in d["daily_breakdown"]],
            "models": sorted(
                (m["model"], m["metrics"]["avg_execution_time"]) for m in get_efficiency(now=now)["models_comparison"]
            ),
            "stats": get_usage_stats(now=now)["efficiency"]["avg_execution_time"],
        }

    def ledger() -> list:
        with session_scope() as s:
            return s.execute(
                select(AIJobUsage.id, AIJobUsage.execution_ms, AIJobUsage.memory_usage_mb).order_by(AIJobUsage.id)
            ).all()

    def rollups() -> dict:
        with session_scope() as s:
            return {
                m.__tablename__: sorted(
                    tuple(getattr(r, c) for c in keys + rollup.MEASURES) for r in s.scalars(select(m))
                )
                for m, keys in (
                    (UsageHourly, rollup.HOUR_KEYS),
                    (UsageDaily, rollup.KEYS),
                    (UsageDailyModel, rollup.NARROW_KEYS),
                )
            }

    before, stored, rows = averages(), ledger(), rollups()
    assert before["totals"] is not None and len(before["daily"]) > 5 and 0 in [ms for _, ms, _ in stored]
    engine = get_engine(db)
    try:
        _downgrade(db, "0008")
        usage = {c["name"]: c for c in inspect(engine).get_columns("ai_job_usage")}
        assert not usage["execution_ms"]["nullable"] and not usage["memory_usage_mb"]["nullable"]
        for table in ("usage_hourly", "usage_daily", "usage_daily_model"):
            assert {"timed_jobs", "memory_jobs"}.isdisjoint(c["name"] for c in inspect(engine).get_columns(table))
    finally:
        migrate(db)
        dispose_engines()  # pooled connections keep temporary tables made LIKE the rollups before the downgrade
    assert _schema_diff(db) == []  # SQLite copied ai_job_usage: its indexes and unique key came back
    assert averages() == before
    assert ledger() == stored
    after = rollups()
    assert after == rows
    at = {m: i for i, m in enumerate(rollup.MEASURES)}
    for table_rows in after.values():
        width = len(table_rows[0]) - len(rollup.MEASURES)
        assert all(
            r[width + at["timed_jobs"]] == r[width + at["jobs"]] == r[width + at["memory_jobs"]] for r in table_rows
        )
    untimed = record_usage(
        job_id="after",
        created_at=now,
        provider_name="openai",
        model_name="gpt-4o-mini",
        input_tokens=1,
        output_tokens=1,
        company="Acme",
        now=now,
    )
    assert (untimed.execution_ms, untimed.memory_usage_mb) == (None, None)
    assert averages()["totals"] == before["totals"]  # one more job, not one more timed job


def _downgrade(db, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from core.storage.db import PROJECT_ROOT

    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    with get_engine(db).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _down_and_up(db, revision: str, table: str) -> None:
    """Downgrade to `revision` (which must drop `table`), then migrate back to head whatever happened: the later
    tests need the table."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from core.storage.db import PROJECT_ROOT

    engine = get_engine(db)
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)
        assert table not in inspect(engine).get_table_names()
    finally:
        migrate(db)


def test_migration_0012_fills_the_lifetime_totals_from_the_rollups(db):
    """Down to 0011 (no totals row: the write guard summed the rollups) and up again: the row holds the ledger's
    lifetime totals (money in micro-dollars), and the next record is added to it."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from core.ingest.checks import validate_record
    from core.ingest.record import ingest, record_usage
    from core.storage.db import session_scope

    now = datetime(2025, 11, 20, 15, 30, tzinfo=UTC)
    with session_scope() as s:
        ingest(
            s,
            [
                validate_record(
                    {
                        "job_id": f"t{i}",
                        "created_at": now,
                        "provider": "openai",
                        "model": "gpt-4o-mini",
                        "input_tokens": 100 + i,
                        "output_tokens": 7,
                        "execution_time_seconds": i,
                        "error_count": i % 2,
                        "memory_usage_mb": 10,
                        "cost_input": "0.000010",
                        "cost_output": f"0.00000{i % 10}",
                        "company": "Acme",
                    },
                    now=now,
                )
                for i in range(25)
            ],
        )

    def totals() -> tuple:
        with session_scope() as s:
            return tuple(
                s.execute(
                    text("SELECT total_tokens, total_cost, execution_ms, error_count, memory_mb FROM ledger_totals")
                ).one()
            )

    expected = (
        sum(107 + i for i in range(25)),
        25 * 10 + sum(i % 10 for i in range(25)),
        sum(1000 * i for i in range(25)),
        12,
        250,
    )
    assert totals() == expected
    _down_and_up(db, "0011", "ledger_totals")
    assert totals() == expected
    record_usage(
        job_id="after",
        created_at=now,
        provider_name="openai",
        model_name="gpt-4o-mini",
        input_tokens=1,
        output_tokens=2,
        cost_input="0.000001",
        cost_output="0",
        company="Acme",
        now=now,
    )
    assert totals() == (expected[0] + 3, expected[1] + 1, *expected[2:])
