"""ledger_totals: the lifetime totals the write guard bounds, kept in one row instead of summed when needed

The guard read them by summing usage_daily_model, and kept the sums per process with a token that every rollup
change rewrote in worker_state under an advisory lock: three round trips per record. The row is changed in the
same transaction as the rollups, and locking it is what puts writers in turn. Filled here from usage_daily_model
(money in micro-dollars); the token in worker_state is no longer read.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MEASURES = ("total_tokens", "total_cost", "execution_ms", "error_count", "memory_mb")


def upgrade() -> None:
    op.create_table(
        "ledger_totals",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        *(sa.Column(m, sa.BigInteger(), nullable=False) for m in MEASURES),
        sa.PrimaryKeyConstraint("id"),
    )
    # usage_daily_model holds money as NUMERIC on PostgreSQL and as integer micro-dollars on SQLite.
    cost = (
        "CAST(COALESCE(SUM(total_cost), 0) * 1000000 AS BIGINT)"
        if op.get_bind().dialect.name == "postgresql"
        else "COALESCE(SUM(total_cost), 0)"
    )
    sums = ", ".join(cost if m == "total_cost" else f"COALESCE(SUM({m}), 0)" for m in MEASURES)
    op.execute(f"INSERT INTO ledger_totals (id, {', '.join(MEASURES)}) SELECT 1, {sums} FROM usage_daily_model")
    op.execute("DELETE FROM worker_state WHERE key = 'rollup_version'")


def downgrade() -> None:
    op.drop_table("ledger_totals")
