"""``gxpbridge qms ...`` commands."""

from __future__ import annotations

import logging

import click
from flask.cli import with_appcontext

logger = logging.getLogger(__name__)


@click.group("qms")
def qms_group() -> None:
    """The quality system."""


@qms_group.command("sweep")
@click.argument("name", type=click.Choice(["effective", "overdue", "periodic"]))
@with_appcontext
def sweep(name: str) -> None:
    """Run one sweep now (the worker runs them on a schedule)."""
    from bridge.core.cli import cli_uow, command_errors
    from qms import sweeps

    @command_errors
    def run() -> None:
        with cli_uow() as uow:
            outcome = sweeps.SWEEPS[name](uow)
            uow.commit()
        click.echo(f"{name}: {outcome}")

    run()
