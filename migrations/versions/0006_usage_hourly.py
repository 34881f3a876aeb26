"""usage_hourly: the wide rollup by UTC hour, for the days a range cuts (10M-record scale)

A window that opens at 12:00 read half of its first day raw (and half of the previous period's): ~50k records,
~70 ms each at 10M records. Whole hours now come from this table; at most half an hour stays raw. Filled from
the raw ledger in one GROUP BY (about a minute at 10M records on PostgreSQL).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

import core.storage.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KEYS = "company_id, brand_id, provider_name, model_name, operation, job_status, pricing_status"
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
# Each measure from the ledger's columns (the rollups rename two).
SOURCES = (
    "count(*)",
    "sum(input_tokens)",
    "sum(output_tokens)",
    "sum(total_tokens)",
    "sum(cached_tokens)",
    "sum(cache_write_tokens)",
    "sum(reasoning_tokens)",
    "sum(cost_input)",
    "sum(cost_output)",
    "sum(total_cost)",
    "sum(execution_ms)",
    "sum(success_rate)",
    "sum(error_count)",
    "sum(memory_usage_mb)",
)


def upgrade() -> None:
    op.create_table(
        "usage_hourly",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("provider_name", sa.String(length=64), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("operation", sa.String(length=200), nullable=False),
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
        sa.PrimaryKeyConstraint(
            "day",
            "hour",
            "company_id",
            "brand_id",
            "provider_name",
            "model_name",
            "operation",
            "job_status",
            "pricing_status",
        ),
    )
    op.execute(backfill_sql(op.get_bind().dialect.name))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE usage_hourly")  # the planner's first reads must not assume an empty table


def backfill_sql(dialect: str) -> str:
    """The raw ledger summed by UTC day, hour and the wide key (also the reference of
    tests/storage/test_migrations.py)."""
    if dialect == "sqlite":  # created_at is stored as UTC text there
        day, hour = "date(created_at)", "CAST(strftime('%H', created_at) AS INTEGER)"
    else:
        day, hour = (
            "CAST(timezone('UTC', created_at) AS date)",
            "CAST(extract(hour FROM timezone('UTC', created_at)) AS smallint)",
        )
    return (
        f"INSERT INTO usage_hourly (day, hour, {KEYS}, {', '.join(MEASURES)}) "
        f"SELECT {day}, {hour}, {KEYS}, {', '.join(SOURCES)} FROM ai_job_usage GROUP BY 1, 2, {KEYS}"
    )


def downgrade() -> None:
    op.drop_table("usage_hourly")
