"""PostgreSQL: indexes that cost less on ingest (10M-record scale)

- ix_usage_created becomes a BRIN index: rows arrive roughly in time order, so a block-range index serves
  time-range scans at a fraction of a B-tree's insert cost.
- ix_usage_total_cost (random keys: every insert lands on a random leaf) is replaced by ix_usage_day_cost on
  (UTC day, total_cost): inserts stay within one day's small subtree, and the costliest rows of a range are
  read day by day from it (core/queries/costliest.py).
SQLite keeps its B-trees: it has no BRIN, and its ingest is not index-bound.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DAY_COST = "CREATE INDEX ix_usage_day_cost ON ai_job_usage (((timezone('UTC', created_at))::date), total_cost)"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_usage_created")
    op.execute("CREATE INDEX ix_usage_created ON ai_job_usage USING brin (created_at)")
    op.execute("DROP INDEX IF EXISTS ix_usage_total_cost")
    op.execute(DAY_COST)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_usage_day_cost")
    op.execute("CREATE INDEX ix_usage_total_cost ON ai_job_usage (total_cost)")
    op.execute("DROP INDEX IF EXISTS ix_usage_created")
    op.execute("CREATE INDEX ix_usage_created ON ai_job_usage (created_at)")
