"""Administrative divisions, their units, and crosswalks from old units to new.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "divisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(32), nullable=False, unique=True),
        sa.Column("valid_from", sa.Date),
        sa.Column("valid_to", sa.Date),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("boundary_path", sa.Text),
        sa.Column("fields", sa.JSON),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "units",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("division", sa.String(32), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("parent", sa.Text, nullable=False),
        sa.UniqueConstraint("division", "code", name="uq_units_division_code"),
    )
    op.create_table(
        "crosswalk",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("old_division", sa.String(32), nullable=False),
        sa.Column("old_code", sa.String(16), nullable=False),
        sa.Column("new_division", sa.String(32), nullable=False),
        sa.Column("new_code", sa.String(16), nullable=False),
        sa.Column("split", sa.Boolean, nullable=False),
        sa.Column("share", sa.Float),
        sa.Column("method", sa.String(16), nullable=False),
        sa.UniqueConstraint(
            "old_division", "old_code", "new_division", "new_code", name="uq_crosswalk_pair"
        ),
    )
    op.create_index("ix_crosswalk_new", "crosswalk", ["new_division", "new_code"])


def downgrade() -> None:
    op.drop_table("crosswalk")
    op.drop_table("units")
    op.drop_table("divisions")
