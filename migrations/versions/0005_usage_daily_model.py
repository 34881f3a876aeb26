"""usage_daily_model: the daily rollup without brand and operation (10M-record scale)

Most views group and filter by day, company, provider, model and statuses only; usage_daily holds ~10x more rows
a day because brand and operation are in its key. The new table is filled from usage_daily (sums of its sums,
exact: a few tens of thousands of rows even at 10M records), so no raw record is read.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

import core.storage.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KEYS = "day, company_id, provider_name, model_name, job_status, pricing_status"
MEASURES = (
    "jobs",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_input",
    "cost_output",
    "total_cost",
    "execution_ms",
    "success_sum",
    "error_count",
    "memory_mb",
)


def upgrade() -> None:
    op.create_table(
        "usage_daily_model",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("provider_name", sa.String(length=64), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("job_status", sa.String(length=16), nullable=False),
        sa.Column("pricing_status", sa.String(length=16), nullable=False),
        sa.Column("jobs", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("total_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_input", core.storage.types.Money(precision=18, scale=6), nullable=False),
        sa.Column("cost_output", core.storage.types.Money(precision=18, scale=6), nullable=False),
        sa.Column("total_cost", core.storage.types.Money(precision=18, scale=6), nullable=False),
        sa.Column("execution_ms", sa.BigInteger(), nullable=False),
        sa.Column("success_sum", sa.Float(), nullable=False),
        sa.Column("error_count", sa.BigInteger(), nullable=False),
        sa.Column("memory_mb", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "company_id", "provider_name", "model_name", "job_status", "pricing_status"),
    )
    with op.batch_alter_table("usage_daily_model", schema=None) as batch_op:
        batch_op.create_index("ix_usage_daily_model_company_day", ["company_id", "day"], unique=False)
    op.execute(backfill_sql())
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE usage_daily_model")  # the planner's first reads must not assume an empty table


def backfill_sql() -> str:
    """usage_daily summed by the narrow key (also the reference of tests/storage/test_migrations.py)."""
    sums = ", ".join(f"sum({m})" for m in MEASURES)
    return (
        f"INSERT INTO usage_daily_model ({KEYS}, {', '.join(MEASURES)}) "
        f"SELECT {KEYS}, {sums} FROM usage_daily GROUP BY {KEYS}"
    )


def downgrade() -> None:
    with op.batch_alter_table("usage_daily_model", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_daily_model_company_day")
    op.drop_table("usage_daily_model")
