"""How each change's effective day was found: given, read from the row, or the import's day.

Existing entries are classified from what they hold: a web edit's day was given; an imported
row's day is "row" when it is the row's transformed_on (transformed) or designated_on (hotspot),
"import" when it is the local day of the import itself, and "given" otherwise (the file had
a date column).

Revision ID: 0004
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

from geo_app import clock

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _classify(source: str, effective_on, changed_at, new: dict | None) -> str:
    if not source.startswith("import:"):
        return "given"
    new = new or {}
    day = effective_on.isoformat() if isinstance(effective_on, dt.date) else str(effective_on)
    status = new.get("status")
    if (status == "transformed" and new.get("transformed_on") == day) or (
        status == "hotspot" and new.get("designated_on") == day
    ):
        return "row"
    if isinstance(changed_at, str):
        changed_at = dt.datetime.fromisoformat(changed_at)
    if changed_at is not None and clock.local_date(changed_at).isoformat() == day:
        return "import"
    return "given"


def upgrade() -> None:
    with op.batch_alter_table("status_history") as batch:
        batch.add_column(sa.Column("date_source", sa.String(16)))
    history = sa.table(
        "status_history",
        sa.column("id", sa.Integer),
        sa.column("source", sa.String),
        sa.column("effective_on", sa.Date),
        sa.column("changed_at", sa.DateTime(timezone=True)),
        sa.column("new", sa.JSON),
        sa.column("date_source", sa.String),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            history.c.id,
            history.c.source,
            history.c.effective_on,
            history.c.changed_at,
            history.c.new,
        )
    ).all()
    for row in rows:
        kind = _classify(row.source, row.effective_on, row.changed_at, row.new)
        conn.execute(history.update().where(history.c.id == row.id).values(date_source=kind))


def downgrade() -> None:
    with op.batch_alter_table("status_history") as batch:
        batch.drop_column("date_source")
