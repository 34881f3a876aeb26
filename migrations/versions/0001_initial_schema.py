"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

import core.storage.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "ai_job_usage",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ai_job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("job_status", sa.String(length=16), nullable=False),
        sa.Column("operation", sa.String(length=200), nullable=False),
        sa.Column("created_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("total_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cached_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_input", core.storage.types.Money(precision=18, scale=6), nullable=False),
        sa.Column("cost_output", core.storage.types.Money(precision=18, scale=6), nullable=False),
        sa.Column("total_cost", core.storage.types.Money(precision=18, scale=6), nullable=False),
        sa.Column("pricing_status", sa.String(length=16), nullable=False),
        sa.Column("execution_ms", sa.BigInteger(), nullable=False),
        sa.Column("memory_usage_mb", sa.Integer(), nullable=False),
        sa.Column("provider_name", sa.String(length=64), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("success_rate", sa.Float(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("error_class", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ai_job_id"),
    )
    with op.batch_alter_table("ai_job_usage", schema=None) as batch_op:
        batch_op.create_index("ix_usage_company_created", ["company_id", "created_at"], unique=False)
        batch_op.create_index("ix_usage_created", ["created_at"], unique=False)
        batch_op.create_index("ix_usage_job_created", ["ai_job_id", "created_at"], unique=False)
        batch_op.create_index("ix_usage_provider_created", ["provider_name", "created_at"], unique=False)
        batch_op.create_index("ix_usage_total_cost", ["total_cost"], unique=False)

    op.create_table(
        "ai_jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.String(length=200), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("brand_id", sa.Integer(), nullable=False),
        sa.Column("job_type", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("operation", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("is_demo", sa.Boolean(), nullable=False),
        sa.Column("request_id", sa.String(length=200), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id"),
    )
    with op.batch_alter_table("ai_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ai_jobs_request_id",
            ["request_id"],
            unique=False,
            sqlite_where=sa.text("request_id IS NOT NULL"),
            postgresql_where=sa.text("request_id IS NOT NULL"),
        )

    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "job_locks",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "price_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model_pattern", sa.String(length=200), nullable=False),
        sa.Column("input_per_million", core.storage.types.Money(precision=18, scale=6), nullable=False),
        sa.Column("cached_input_per_million", core.storage.types.Money(precision=18, scale=6), nullable=True),
        sa.Column("cache_write_per_million", core.storage.types.Money(precision=18, scale=6), nullable=True),
        sa.Column("output_per_million", core.storage.types.Money(precision=18, scale=6), nullable=False),
        sa.Column("effective_from", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "model_pattern", "effective_from", name="uq_price_overrides_key"),
    )
    op.create_table(
        "probe_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error_class", sa.String(length=120), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("served_by", sa.String(length=64), nullable=True),
        sa.Column("report", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("probe_runs", schema=None) as batch_op:
        batch_op.create_index("ix_probe_runs_started", ["started_at"], unique=False)

    op.create_table(
        "usage_daily",
        sa.Column("day", sa.Date(), nullable=False),
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
            "day", "company_id", "brand_id", "provider_name", "model_name", "operation", "job_status", "pricing_status"
        ),
    )
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.create_index("ix_usage_daily_company_day", ["company_id", "day"], unique=False)

    op.create_table(
        "worker_heartbeats",
        sa.Column("worker_id", sa.String(length=200), nullable=False),
        sa.Column("hostname", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_beat_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_job", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("worker_id"),
    )
    op.create_table(
        "worker_state",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("provider_name", sa.String(length=64), nullable=False),
        sa.Column("alert_type", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("threshold_value", core.storage.types.Money(precision=18, scale=6), nullable=False),
        sa.Column("current_value", core.storage.types.Money(precision=18, scale=6), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("is_resolved", sa.Boolean(), nullable=False),
        sa.Column("resolved_at", core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("open_key", sa.String(length=400), nullable=True),
        sa.Column("email_sent", sa.Boolean(), nullable=False),
        sa.Column("email_sent_at", core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_notified_at", core.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("notify_attempts", sa.Integer(), nullable=False),
        sa.Column("notify_error", sa.Text(), nullable=True),
        sa.Column("resolved_notified", sa.Boolean(), nullable=False),
        sa.Column("created_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_key"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_company_created", ["company_id", "created_at"], unique=False)
        batch_op.create_index("ix_alerts_resolved", ["is_resolved"], unique=False)

    op.create_table(
        "brands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("company_id", "name", name="uq_brands_company_name"),
    )
    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("monthly_usd", core.storage.types.Money(precision=18, scale=6), nullable=False),
        sa.Column("updated_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("company_id", "provider", name="uq_budgets_company_provider"),
    )
    op.create_table(
        "quotas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("monthly_usd", core.storage.types.Money(precision=18, scale=6), nullable=True),
        sa.Column("monthly_tokens", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("company_id", "provider", name="uq_quotas_company_provider"),
    )


def downgrade() -> None:

    op.drop_table("quotas")
    op.drop_table("budgets")
    op.drop_table("brands")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_resolved")
        batch_op.drop_index("ix_alerts_company_created")

    op.drop_table("alerts")
    op.drop_table("worker_state")
    op.drop_table("worker_heartbeats")
    with op.batch_alter_table("usage_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_daily_company_day")

    op.drop_table("usage_daily")
    with op.batch_alter_table("probe_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_probe_runs_started")

    op.drop_table("probe_runs")
    op.drop_table("price_overrides")
    op.drop_table("job_locks")
    op.drop_table("companies")
    with op.batch_alter_table("ai_jobs", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_ai_jobs_request_id",
            sqlite_where=sa.text("request_id IS NOT NULL"),
            postgresql_where=sa.text("request_id IS NOT NULL"),
        )

    op.drop_table("ai_jobs")
    with op.batch_alter_table("ai_job_usage", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_total_cost")
        batch_op.drop_index("ix_usage_provider_created")
        batch_op.drop_index("ix_usage_job_created")
        batch_op.drop_index("ix_usage_created")
        batch_op.drop_index("ix_usage_company_created")

    op.drop_table("ai_job_usage")
