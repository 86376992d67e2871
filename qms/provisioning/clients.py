"""Provisioning clients: one bearer token per identity provider or HRIS, issued once (only its
SHA-256 is stored), revocable, every issue and revocation audited.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core import audit
from bridge.core.actor import Actor
from bridge.core.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from bridge.core.uow import UnitOfWork
from qms.provisioning.models import ProvisioningClient

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "scim_"  # noqa: S105 - a prefix, not a secret
# What a provisioning client may do: the organisation events of the REST API (hire, transfer,
# leave, termination, job functions) and nothing else.
CLIENT_ROLES = frozenset({"supervisor"})


def _digest(token: str) -> str:
    # 256 random bits: a fast hash is enough and keeps each request cheap.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class IssuedClient:
    """A new client and its token, shown once."""

    id: int
    name: str
    token: str


def issue_client(uow: UnitOfWork, name: str) -> IssuedClient:
    """Register a provisioning client and issue its bearer token (returned once, stored hashed)."""
    uow.actor.require("administrator", action="registering a provisioning client")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed("a provisioning client needs a name of 1 to 100 characters", field="name")
    if uow.session.scalar(select(ProvisioningClient.id).where(ProvisioningClient.name == name)):
        raise Conflict(
            f"a provisioning client is already named {name!r}", field="name", code="duplicate_name"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with uow.because(f"provisioning client {name} registered"):
        client = ProvisioningClient(name=name, token_hash=_digest(token), token_hint=token[:9])
        uow.session.add(client)
    audit.record(uow, "scim.client_issued", "qms_provisioning_client", client.id, new={"name": name})
    return IssuedClient(client.id, name, token)


def revoke_client(uow: UnitOfWork, name: str, *, reason: str) -> ProvisioningClient:
    """Revoke a client's token at once (its later requests get 401)."""
    uow.actor.require("administrator", action="revoking a provisioning client")
    client = uow.session.scalar(select(ProvisioningClient).where(ProvisioningClient.name == name))
    if client is None:
        raise NotFound(f"no provisioning client named {name!r}", field="name")
    if client.revoked_at is None:
        with uow.because(reason):
            client.revoked_at = uow.clock.now()
            client.revoke_reason = reason
    return client


def list_clients(session: Session) -> list[ProvisioningClient]:
    """Every provisioning client, by name."""
    return list(session.scalars(select(ProvisioningClient).order_by(ProvisioningClient.name)))


def authenticate(session: Session, token: str) -> ProvisioningClient:
    """The live client behind a bearer token, or :class:`Unauthorized`."""
    if not token.startswith(TOKEN_PREFIX):
        raise Unauthorized("not a provisioning token", code="invalid_token")
    digest = _digest(token)
    client = session.scalar(select(ProvisioningClient).where(ProvisioningClient.token_hash == digest))
    if client is None or not hmac.compare_digest(client.token_hash, digest):
        raise Unauthorized("unknown provisioning token", code="invalid_token")
    if client.revoked_at is not None:
        raise Unauthorized("this provisioning token was revoked", code="token_revoked")
    return client


def actor_of(client: ProvisioningClient) -> Actor:
    """The actor the audit trail names for a client's changes."""
    return Actor(
        kind="scim",
        username=f"scim:{client.name}"[:64],
        display_name=f"SCIM client {client.name}",
        roles=CLIENT_ROLES,
    )
