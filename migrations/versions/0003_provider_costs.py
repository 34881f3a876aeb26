"""provider_costs: billed cost lines per day from the OpenAI Costs API (reconciliation)

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

import core.storage.types

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_costs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("project_id", sa.String(length=200), nullable=False),
        sa.Column("line_item", sa.String(length=300), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("cost_kind", sa.String(length=16), nullable=False),
        sa.Column("amount", core.storage.types.Money(precision=18, scale=6), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("synced_at", core.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("company_id", "provider", "day", "project_id", "line_item", name="uq_provider_costs_key"),
    )
    with op.batch_alter_table("provider_costs", schema=None) as batch_op:
        batch_op.create_index("ix_provider_costs_company_day", ["company_id", "day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("provider_costs", schema=None) as batch_op:
        batch_op.drop_index("ix_provider_costs_company_day")
    op.drop_table("provider_costs")
