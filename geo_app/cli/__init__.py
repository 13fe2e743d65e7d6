"""`geo-app` commands: the command door, one module per command group, onto the same
functions as the web."""

from __future__ import annotations

import click

from geo_app.cli import (
    boundaries,
    db,
    divisions,
    doctor,
    export,
    jobs,
    report,
    serve,
    status,
    targets,
    users,
)
from geo_app.cli.common import fail
from geo_app.errors import GeoAppError


class _Main(click.Group):
    """The command group: an error a command lets through (a database that cannot be reached,
    most often) is said in a few lines, never as a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GeoAppError as exc:
            fail(exc, False)


@click.group(cls=_Main)
def main() -> None:
    """Thanh Hóa area-status map: boundaries, status records, maps."""


main.add_command(db.db)
main.add_command(boundaries.boundaries_group)
main.add_command(divisions.divisions)
main.add_command(status.status)
main.add_command(users.users)
main.add_command(targets.targets_group)
main.add_command(report.report_group)
main.add_command(export.export_group)
main.add_command(serve.serve)
main.add_command(jobs.jobs_group)
main.add_command(doctor.doctor)

if __name__ == "__main__":  # pragma: no cover
    main()
