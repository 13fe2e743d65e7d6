"""`geo-app` commands: the command door, one module per command group, onto the same
functions as the web."""

from __future__ import annotations

import click

from geo_app.cli import boundaries, db, divisions, export, jobs, serve, status, users


@click.group()
def main() -> None:
    """Thanh Hóa area-status map: boundaries, status records, maps."""


main.add_command(db.db)
main.add_command(boundaries.boundaries_group)
main.add_command(divisions.divisions)
main.add_command(status.status)
main.add_command(users.users)
main.add_command(export.export_group)
main.add_command(serve.serve)
main.add_command(jobs.jobs_group)

if __name__ == "__main__":  # pragma: no cover
    main()
