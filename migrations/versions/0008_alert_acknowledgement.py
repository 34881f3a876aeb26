"""alerts: acknowledgement and snooze

An acknowledged alert stays open (it still resolves by itself when its condition clears) but sends no reminder
while acknowledged, or until `snoozed_until` when the acknowledgement has an end. Existing alerts are not
acknowledged (the new columns are NULL).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

import core.storage.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases (SQLite 3.35+ drops columns itself): batch mode would copy `alerts` and drop
# the old table, and with foreign keys on, that drop deletes every notify_deliveries row through its cascade.
COLUMNS = (
    ("acknowledged_at", core.storage.types.UTCDateTime(timezone=True)),
    ("acknowledged_by", sa.String(length=200)),
    ("acknowledgement_note", sa.Text()),
    ("snoozed_until", core.storage.types.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("alerts", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.drop_column("alerts", name)
