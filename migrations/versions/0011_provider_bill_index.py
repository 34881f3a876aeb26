"""ai_jobs: a partial index on the few jobs imported from a provider's bill

Reconciliation subtracts the ledger rows imported from the provider's bill (source "provider_bill") from the
rollup's estimate. Without an index, finding those few rows read the whole jobs table (1.8 s at 10M records, on
every view of the Costs page); the partial index holds only them, so writing any other job costs nothing more.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

WHERE = sa.text("source = 'provider_bill'")


def upgrade() -> None:
    op.create_index("ix_ai_jobs_provider_bill", "ai_jobs", ["id"], postgresql_where=WHERE, sqlite_where=WHERE)


def downgrade() -> None:
    op.drop_index("ix_ai_jobs_provider_bill", table_name="ai_jobs")
