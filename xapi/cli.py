"""``gxpbridge lrs``: LRS credentials."""

from __future__ import annotations

import json
import logging
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from bridge.core.cli import command_errors, transactional_command
from bridge.core.uow import UnitOfWork
from bridge.core.web import database, settings
from xapi import auth

logger = logging.getLogger(__name__)


@click.group("lrs")
def lrs_group() -> None:
    """The xAPI Learning Record Store."""


@lrs_group.group("credentials")
def credentials_group() -> None:
    """HTTP Basic credentials of LMSs and content sending statements."""


@credentials_group.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True,
              help=f"xAPI scope, repeatable: {', '.join(auth.SCOPES)} (default: all)")
@click.option("--json", "as_json", is_flag=True, help='print {"key": ..., "secret": ...}')
@with_appcontext
@transactional_command
def credentials_create(name: str, scopes: tuple[str, ...], as_json: bool, uow: UnitOfWork) -> Any:
    """Create the credential NAME and print its key and secret (the secret is shown once)."""
    issued = auth.create_credential(uow, name, scopes=list(scopes), pepper=current_app.config["SECRET_KEY"],
                                    home_page=settings().base_url)

    def show() -> None:  # once the credential is stored
        if as_json:
            click.echo(json.dumps({"key": issued.key, "secret": issued.secret}))
            return
        click.echo(f"key:    {issued.key}")
        click.echo(f"secret: {issued.secret}")
        click.echo(f"credential {issued.name} created with scopes {', '.join(issued.scopes)}; "
                   f"the secret is shown only now", err=True)

    return show


@credentials_group.command("list")
@with_appcontext
@command_errors
def credentials_list() -> None:
    """List credentials: name, key, scopes, state."""
    with database().read_sessions() as session:
        for row in auth.list_credentials(session):
            state = f"revoked {row.revoked_at:%Y-%m-%dT%H:%M:%SZ}" if row.revoked_at else "active"
            click.echo(f"{row.name}\t{row.key}\t{','.join(row.scopes)}\t{state}")


@credentials_group.command("revoke")
@click.argument("name")
@click.option("--reason", default="revoked from the command line", show_default=True)
@with_appcontext
@transactional_command
def credentials_revoke(name: str, reason: str, uow: UnitOfWork) -> Any:
    """Revoke the credential NAME (or key) at once."""
    row = auth.revoke_credential(uow, name, reason)
    done = f"credential {row.name} revoked"
    return lambda: click.echo(done)
