"""Migrations build exactly the schema the models describe, on both databases, and re-run harmlessly."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.db import get_engine, migrate
from core.models import Base


def test_schema_matches_models_and_migrate_is_idempotent(db):
    migrate(db)  # second run: nothing to do, no error
    with get_engine(db).connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_fresh_sqlite_file_is_created_with_its_folder(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'usage.db'}"
    migrate(url)
    assert (tmp_path / "nested" / "dir" / "usage.db").exists()
    with get_engine(url).connect() as conn:
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    assert version is not None
