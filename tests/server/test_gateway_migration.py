"""Migration 0010 (gateway_keys) goes down and up again on both databases: the table goes and comes back as the
model describes it, and keys made after the upgrade work."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from core.server.keys import KeyRing, create_key
from core.storage.db import PROJECT_ROOT, dispose_engines, get_engine, migrate
from core.storage.models import Base


def _config() -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return cfg


def _only_for(dialect: str):
    def include(obj, name, type_, reflected, compare_to):
        only = getattr(obj, "_ddl_if", None)
        return not (type_ == "index" and not reflected and only is not None and only.dialect != dialect)

    return include


def test_migration_0010_down_and_up(db):
    engine = get_engine(db)
    cfg = _config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0009")
        assert "gateway_keys" not in inspect(engine).get_table_names()
    finally:
        migrate(db)
        dispose_engines()
    engine = get_engine(db)
    columns = {c["name"]: c for c in inspect(engine).get_columns("gateway_keys")}
    assert not columns["key_hash"]["nullable"] and columns["revoked_at"]["nullable"]
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": False, "include_object": _only_for(conn.dialect.name)}
        )
        assert compare_metadata(ctx, Base.metadata) == []
    key, _ = create_key("Acme")
    ring = KeyRing()
    ring.refresh()
    assert ring.check(key).company == "Acme"
