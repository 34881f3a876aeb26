"""usage_daily_scope: the daily rollup by company, brand and operation only

The breakdowns by brand and by operation read usage_daily, whose key also holds provider, model and statuses: a
day there has ~20x more rows than the (company, brand, operation)s it is summed into (at 10M records, 30 days were
~15,000 rows for ~800 groups). The new table is filled from usage_daily (sums of its sums, exact), so no raw
record is read.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

import core.storage.types

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

KEYS = "day, company_id, brand_id, operation"
BIG = (
    "jobs",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "execution_ms",
    "error_count",
    "memory_mb",
    "timed_jobs",
    "memory_jobs",
)
MONEY = ("cost_input", "cost_output", "total_cost")
MEASURES = BIG + MONEY + ("success_sum",)


def upgrade() -> None:
    op.create_table(
        "usage_daily_scope",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(length=200), nullable=False),
        *(sa.Column(m, sa.BigInteger(), nullable=False) for m in BIG),
        *(sa.Column(m, core.storage.types.Money(precision=18, scale=6), nullable=False) for m in MONEY),
        sa.Column("success_sum", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("day", "company_id", "brand_id", "operation"),
    )
    with op.batch_alter_table("usage_daily_scope", schema=None) as batch_op:
        batch_op.create_index("ix_usage_daily_scope_company_day", ["company_id", "day"], unique=False)
    op.execute(backfill_sql())
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE usage_daily_scope")  # the planner's first reads must not assume an empty table


def backfill_sql() -> str:
    """usage_daily summed by (day, company, brand, operation)."""
    sums = ", ".join(f"sum({m})" for m in MEASURES)
    return (
        f"INSERT INTO usage_daily_scope ({KEYS}, {', '.join(MEASURES)}) "
        f"SELECT {KEYS}, {sums} FROM usage_daily GROUP BY {KEYS}"
    )


def downgrade() -> None:
    with op.batch_alter_table("usage_daily_scope", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_daily_scope_company_day")
    op.drop_table("usage_daily_scope")
