"""Boundary sets in the store (geometry as WKB), what is prepared from them, background jobs.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "boundary_sets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("division", sa.String(32), nullable=False, index=True),
        sa.Column("content_hash", sa.String(64), nullable=False, index=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("source_crs", sa.Text, nullable=False),
        sa.Column("fields", sa.JSON),
        sa.Column("repaired", sa.JSON, nullable=False),
        sa.Column("warnings", sa.JSON, nullable=False),
        sa.Column("units", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "boundary_units",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "set_id",
            sa.Integer,
            sa.ForeignKey("boundary_sets.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("geom", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "prepared",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(96), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("set_hash", sa.String(64), nullable=False, index=True),
        sa.Column("params_hash", sa.String(64), nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uid", sa.String(32), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(128), nullable=False, index=True),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("result", sa.LargeBinary),
        sa.Column("result_name", sa.Text),
        sa.Column("result_type", sa.String(64)),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("prepared")
    op.drop_table("boundary_units")
    op.drop_table("boundary_sets")
