"""``gxpbridge qms scim-client ...``: register, list and revoke provisioning clients."""

from __future__ import annotations

import logging
from collections.abc import Callable

import click
from flask.cli import with_appcontext

from bridge.core.cli import transactional_command
from bridge.core.uow import UnitOfWork
from qms.provisioning import clients

logger = logging.getLogger(__name__)


@click.group("scim-client")
def scim_client_group() -> None:
    """Provisioning clients of /scim/v2 (one bearer token each)."""


@scim_client_group.command("issue")
@click.argument("name")
@with_appcontext
@transactional_command
def issue(name: str, uow: UnitOfWork) -> Callable[[], None]:
    """Register a client and print its token once (only its hash is stored)."""
    issued = clients.issue_client(uow, name)

    def report() -> None:
        click.echo(f"provisioning client {issued.name} (id {issued.id})")
        click.echo(f"token (shown once): {issued.token}")

    return report


@scim_client_group.command("revoke")
@click.argument("name")
@click.option("--reason", required=True, help="why (recorded in the audit trail)")
@with_appcontext
@transactional_command
def revoke(name: str, reason: str, uow: UnitOfWork) -> Callable[[], None]:
    """Revoke a client's token at once."""
    client = clients.revoke_client(uow, name, reason=reason)
    return lambda: click.echo(f"provisioning client {client.name} revoked")


@scim_client_group.command("list")
@with_appcontext
@transactional_command(readonly=True)
def list_clients(uow: UnitOfWork) -> None:
    """Every client: name, token hint, created, revoked."""
    for client in clients.list_clients(uow.session):
        state = f"revoked {client.revoked_at:%Y-%m-%d %H:%M}" if client.revoked_at else "active"
        click.echo(f"{client.name}\t{client.token_hint}…\t{client.created_at:%Y-%m-%d %H:%M}\t{state}")
