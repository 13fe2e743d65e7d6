"""Server-side login sessions, and the data revision's base that restores and repairs move on.

``sessions``: one row per login; the cookie holds a random token whose SHA-256 is kept here, so
a session ends (logout, password change, an administrator, the idle timeout) for every copy of
its cookie. ``data_revision``: one row, ``base``, added to the newest ids by `Store.revision`;
a restore sets it so that the revision moves past every value served before, and a repair of a
history entry adds one.

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("username", sa.String(64), nullable=False, index=True),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("ended_by", sa.String(16)),
    )
    table = op.create_table(
        "data_revision",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("base", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "base": 0}])


def downgrade() -> None:
    op.drop_table("data_revision")
    op.drop_table("sessions")
