"""Migrations build exactly the schema the models describe, on both databases, and re-run harmlessly."""
from alembic.autogenerate import compare_metadata
from alert_fixtures import env, webhook  # noqa: F401
from alembic.migration import MigrationContext

from core.db import get_engine, migrate
from core.models import Base


def _for_dialect(dialect: str):
    """Skip model indexes declared for the other database only (alembic ignores `ddl_if`)."""
    def include(obj, name, type_, reflected, compare_to):
        only = getattr(obj, "_ddl_if", None)
        return not (type_ == "index" and not reflected and only is not None and only.dialect != dialect)
    return include


def test_schema_matches_models_and_migrate_is_idempotent(db):
    migrate(db)  # second run: nothing to do, no error
    with get_engine(db).connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False,
                                                     "include_object": _for_dialect(conn.dialect.name)})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_ledger_indexes_per_database(db):
    """PostgreSQL gets the ingest-friendly indexes of migration 0004; SQLite keeps plain B-trees."""
    with get_engine(db).connect() as conn:
        if conn.dialect.name == "postgresql":
            defs = dict(conn.exec_driver_sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'ai_job_usage'").all())
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


def test_migration_0005_backfills_the_narrow_rollup_from_the_wide_one(db):
    """Down to 0004 (no usage_daily_model) and up again: the backfill equals usage_daily summed by the narrow key."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from sqlalchemy import select

    from core import rollup
    from core.db import session_scope
    from core.models import UsageDaily, UsageDailyModel
    from core.usage import ingest
    from core.validation import validate_record

    now = datetime(2025, 11, 20, 15, 30, tzinfo=UTC)
    with session_scope() as s:
        ingest(s, [validate_record({
            "job_id": f"m{i}", "created_at": now - timedelta(hours=9 * i), "provider": ["openai", "acme"][i % 2],
            "model": ["gpt-4o-mini", "custom-1"][i % 2], "input_tokens": 100 + i, "output_tokens": 7,
            "status": ["completed", "failed"][i % 5 == 0], "company": ["Acme", "Beta"][i % 3 == 0],
            "brand": f"b{i % 3}", "operation": f"op{i % 4}"}, now=now) for i in range(60)])
    with session_scope() as s:
        expected: dict = {}
        for r in s.scalars(select(UsageDaily)):
            acc = expected.setdefault(tuple(getattr(r, k) for k in rollup.NARROW_KEYS), [0, 0, Decimal(0), 0])
            for i, v in enumerate((r.jobs, r.total_tokens, r.total_cost, r.execution_ms)):
                acc[i] += v
    _down_and_up(db, "0004", "usage_daily_model")
    with session_scope() as s:
        got = {tuple(getattr(r, k) for k in rollup.NARROW_KEYS): [r.jobs, r.total_tokens, r.total_cost,
                                                                  r.execution_ms]
               for r in s.scalars(select(UsageDailyModel))}
        wide_rows = s.query(UsageDaily).count()
    assert got == expected
    assert 1 < len(got) < wide_rows  # brand and operation were summed away


def test_migration_0006_backfills_the_hourly_rollup_from_the_ledger(db):
    """Down to 0005 (no usage_hourly) and up again: the backfill equals the raw records summed by UTC hour."""
    from datetime import UTC, datetime, timedelta, timezone

    from sqlalchemy import select

    from core import rollup
    from core.db import session_scope
    from core.models import UsageHourly
    from core.usage import ingest
    from core.validation import validate_record

    now = datetime(2025, 11, 20, 15, 30, tzinfo=UTC)
    with session_scope() as s:  # 70 records 17 minutes apart, over two days, given in three zones
        ingest(s, [validate_record({
            "job_id": f"h{i}", "created_at": (now - timedelta(minutes=17 * i)).astimezone(
                timezone(timedelta(hours=[0, 5, -8][i % 3]))).isoformat(),
            "provider": ["openai", "acme"][i % 2], "model": ["gpt-4o-mini", "custom-1"][i % 2],
            "input_tokens": 100 + i, "output_tokens": 7, "status": ["completed", "failed"][i % 11 == 0],
            "company": "Acme", "brand": "b1", "operation": "chat"}, now=now) for i in range(70)])
    with session_scope() as s:
        expected = {tuple(getattr(r, k) for k in rollup.HOUR_KEYS): tuple(getattr(r, m) for m in rollup.MEASURES)
                    for r in s.scalars(select(UsageHourly))}
    _down_and_up(db, "0005", "usage_hourly")
    with session_scope() as s:
        got = {tuple(getattr(r, k) for k in rollup.HOUR_KEYS): tuple(getattr(r, m) for m in rollup.MEASURES)
               for r in s.scalars(select(UsageHourly))}
    assert got == expected  # the backfill (SQL) equals what ingest wrote (Python), key and sum for sum
    assert len({k[:2] for k in got}) > 20 and max(v[0] for v in got.values()) > 1  # many hours, some shared


def test_migration_0007_takes_the_alerts_already_sent_as_taken_by_the_configured_channels(db, env, webhook):
    """Down to 0006 (no per-channel state) and up again: an upgrade announces nothing twice, and the reminder
    still comes NOTIFY_REPEAT_HOURS after the last message."""
    from datetime import timedelta

    from alert_fixtures import NOW, spend

    from core.alerts import check_alerts
    from core.limits import set_budget

    env(NOTIFY_URLS=webhook.url(), NOTIFY_REPEAT_HOURS="24")
    set_budget("Acme", "100", provider="openai")
    spend("85", when=NOW - timedelta(hours=1))
    assert check_alerts(now=NOW)["notifications_sent"] == 1
    _down_and_up(db, "0006", "notify_channels")
    assert check_alerts(now=NOW + timedelta(minutes=15))["notifications_sent"] == 0
    assert len(webhook.received) == 1
    assert check_alerts(now=NOW + timedelta(hours=24))["notifications_sent"] == 1
    assert len(webhook.delivered) == 2 and "still open" in webhook.delivered[1]["title"]


def _down_and_up(db, revision: str, table: str) -> None:
    """Downgrade to `revision` (which must drop `table`), then migrate back to head whatever happened: the later
    tests need the table."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from core.db import PROJECT_ROOT

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
