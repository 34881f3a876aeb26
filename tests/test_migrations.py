"""Migrations build exactly the schema the models describe, on both databases, and re-run harmlessly."""
from alembic.autogenerate import compare_metadata
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
