"""Records belong to a programme, and hold the programme's fields.

Every existing record and history entry is the hotspot programme's (`programme` defaults to
"hotspot"). A record's fields move from one column each (designated_on, target_on,
transformed_on, unit, problems, notes) into one JSON object `fields`, so that a programme's
fields come from its definition file, not from the schema. History entries already keep their
content as JSON and are not rewritten.

Revision ID: 0005
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_OLD_FIELDS = ("designated_on", "target_on", "transformed_on", "unit", "problems", "notes")


def _jsonable(value):
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def upgrade() -> None:
    with op.batch_alter_table("status_records") as batch:
        batch.add_column(
            sa.Column("programme", sa.String(32), nullable=False, server_default="hotspot")
        )
        batch.add_column(sa.Column("fields", sa.JSON))
    records = sa.table(
        "status_records",
        sa.column("id", sa.Integer),
        sa.column("designated_on", sa.Date),
        sa.column("target_on", sa.Date),
        sa.column("transformed_on", sa.Date),
        sa.column("unit", sa.Text),
        sa.column("problems", sa.JSON),
        sa.column("notes", sa.Text),
        sa.column("fields", sa.JSON),
    )
    conn = op.get_bind()
    for row in conn.execute(sa.select(records)).mappings().all():
        values = {name: _jsonable(row[name]) for name in _OLD_FIELDS}
        values["unit"] = values["unit"] or ""
        values["notes"] = values["notes"] or ""
        values["problems"] = list(values["problems"] or [])
        conn.execute(records.update().where(records.c.id == row["id"]).values(fields=values))
    with op.batch_alter_table("status_records") as batch:
        batch.alter_column("fields", existing_type=sa.JSON, nullable=False)
        batch.drop_constraint("uq_status_records_division_code", type_="unique")
        for name in _OLD_FIELDS:
            batch.drop_column(name)
        batch.create_unique_constraint(
            "uq_status_records_programme_division_code", ["programme", "division", "code"]
        )
    with op.batch_alter_table("status_history") as batch:
        batch.add_column(
            sa.Column("programme", sa.String(32), nullable=False, server_default="hotspot")
        )
        batch.create_index("ix_status_history_programme", ["programme"])


def downgrade() -> None:
    raise NotImplementedError("records of several programmes cannot go back to one programme")
