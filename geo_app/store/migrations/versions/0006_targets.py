"""Targets per unit (chỉ tiêu): every change of a unit's checklist, append-only.

A unit's checklist on a day is, for each target, its latest change not after that day; the
targets a programme's definition gives every listed unit are not stored until one changes.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "target_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("programme", sa.String(32), nullable=False),
        sa.Column("division", sa.String(32), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("key", sa.String(16), nullable=False),
        sa.Column("effective_on", sa.Date, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("due_on", sa.Date),
        sa.Column("met_on", sa.Date),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("removed", sa.Boolean, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_target_events_unit", "target_events", ["programme", "division", "code"])


def downgrade() -> None:
    op.drop_table("target_events")
