"""ai_job_usage: an execution time or memory that was not measured is NULL; the rollups count the measured jobs

`execution_ms` and `memory_usage_mb` become nullable: a record without them is stored NULL from now on, never 0.
The three rollups get `timed_jobs` and `memory_jobs`, the number of jobs whose time / memory was measured, which
the averages divide by. Existing rows keep their values: until now every record stored a number (0 when none was
given), so every existing job counts as measured and each rollup row's counts equal its `jobs` — the averages of
existing data do not change.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ROLLUPS = ("usage_hourly", "usage_daily", "usage_daily_model")
COUNTS = ("timed_jobs", "memory_jobs")
LEDGER = (("execution_ms", sa.BigInteger()), ("memory_usage_mb", sa.Integer()))


def _ledger_nullable(nullable: bool) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite changes a NOT NULL only by copying the table. Safe for ai_job_usage: no foreign key points at it,
        # so dropping the old copy deletes nothing elsewhere (unlike `alerts`, see 0008).
        with op.batch_alter_table("ai_job_usage") as batch_op:
            for name, type_ in LEDGER:
                batch_op.alter_column(name, existing_type=type_, nullable=nullable)
    else:
        for name, type_ in LEDGER:
            op.alter_column("ai_job_usage", name, existing_type=type_, nullable=nullable)


def upgrade() -> None:
    _ledger_nullable(True)
    # Plain ADD COLUMN on both databases (a NOT NULL column needs a default there); then every existing job is
    # a measured one (the ledger held no NULL until now).
    for table in ROLLUPS:
        for name in COUNTS:
            op.add_column(table, sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))
        op.execute(f"UPDATE {table} SET timed_jobs = jobs, memory_jobs = jobs")
        if op.get_bind().dialect.name == "postgresql":
            # No default left: a writer that forgot a count would fail instead of writing 0 (SQLite keeps it:
            # dropping a default there means copying the table).
            for name in COUNTS:
                op.alter_column(table, name, server_default=None)


def downgrade() -> None:
    # The older schema has no NULL: an unmeasured value goes back to the 0 it used to be stored as (the rollups'
    # sums already hold it as 0).
    for table in ROLLUPS:
        for name in COUNTS:
            op.drop_column(table, name)
    for name, _ in LEDGER:
        op.execute(f"UPDATE ai_job_usage SET {name} = 0 WHERE {name} IS NULL")
    _ledger_nullable(False)
