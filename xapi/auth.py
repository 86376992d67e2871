"""LRS credentials: HTTP Basic key/secret pairs, their xAPI scopes and the authority they stamp.

A credential's secret carries 256 random bits, so a fast keyed hash (HMAC-SHA-256) is as safe
as a slow password hash and costs a microsecond. The key is looked up on each request (one
indexed read), so a revocation is refused at once by every process: no cache can go stale.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bridge.core.actor import Actor
from bridge.core.clock import column_now
from bridge.core.db import Base, Database, JSONType, UTCDateTime
from bridge.core.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from bridge.core.uow import UnitOfWork
from xapi import rawdb

logger = logging.getLogger(__name__)

SCOPES = (
    "statements/write",
    "statements/read",
    "statements/read/mine",
    "state",
    "define",
    "profile",
    "all/read",
    "all",
)
DEFAULT_SCOPES = ("all",)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,99}$")
KEY_PREFIX = "lrs_"


class LrsCredential(Base):
    """A key/secret pair an LMS or content package uses to talk to the record store."""

    __tablename__ = "xapi_credential"
    __audited__ = True
    __audit_exclude__ = ("secret_digest",)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    key: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    secret_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    # The Agent written as ``authority`` of every statement stored with this credential.
    authority: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Principal:
    """The credential behind one xAPI request.

    Attributes:
        credential_id: Row id of the credential.
        name: Credential name.
        scopes: Granted xAPI scopes.
        authority: The authority Agent of statements stored with this credential.
    """

    credential_id: int
    name: str
    scopes: frozenset[str]
    authority: dict[str, Any]

    def actor(self) -> Actor:
        """The actor written into audit rows for changes made with this credential."""
        return Actor(kind="lrs", username=f"lrs:{self.name}", display_name=f"LRS credential {self.name}")

    def allows(self, *scopes: str) -> bool:
        """Whether any of ``scopes`` (or ``all``) was granted."""
        return "all" in self.scopes or bool(self.scopes.intersection(scopes))

    def require(self, *scopes: str, action: str) -> None:
        """Raise :class:`Forbidden` unless one of ``scopes`` (or ``all``) was granted."""
        if not self.allows(*scopes):
            raise Forbidden(
                f"{action} needs one of the xAPI scopes {', '.join(('all', *scopes))}; "
                f"credential {self.name} has {', '.join(sorted(self.scopes))}",
                code="scope_required",
            )


def secret_digest(secret: str, pepper: str) -> str:
    """HMAC-SHA-256 of ``secret`` keyed with the application's secret key."""
    return hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class IssuedCredential:
    """A new credential: the secret is shown once and only its digest is stored."""

    id: int
    name: str
    key: str
    secret: str
    scopes: list[str]


def normalise_scopes(scopes: list[str] | tuple[str, ...] | None) -> list[str]:
    """Validate scope names; an empty list means the default scopes."""
    chosen = list(dict.fromkeys(scopes or DEFAULT_SCOPES))
    for scope in chosen:
        if scope not in SCOPES:
            raise ValidationFailed(f"unknown xAPI scope {scope!r}; one of {', '.join(SCOPES)}", field="scope")
    return chosen


def create_credential(
    uow: UnitOfWork,
    name: str,
    *,
    scopes: list[str] | tuple[str, ...] | None,
    pepper: str,
    home_page: str,
    key: str | None = None,
    secret: str | None = None,
) -> IssuedCredential:
    """Create an LRS credential.

    Args:
        uow: Unit of work.
        name: Unique name (shown in the authority and in the audit trail).
        scopes: xAPI scopes granted (default ``all``).
        pepper: The application's secret key, keying the secret's HMAC.
        home_page: Home page of the authority account (the service's base URL).
        key: A fixed key (demo only); random when omitted.
        secret: A fixed secret (demo only); random when omitted.

    Returns:
        The credential with its plain secret (shown once).
    """
    uow.actor.require("administrator", action="creating an LRS credential")
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise ValidationFailed(
            "a credential name is 1-100 letters, digits, space, '.', '_', '@' or '-'", field="name"
        )
    chosen = normalise_scopes(scopes)
    if uow.session.scalar(select(LrsCredential.id).where(LrsCredential.name == name)):
        raise Conflict(f"an LRS credential named {name!r} already exists", field="name")
    key = key or KEY_PREFIX + secrets.token_hex(10)
    secret = secret or secrets.token_urlsafe(32)
    row = LrsCredential(
        name=name,
        key=key,
        secret_digest=secret_digest(secret, pepper),
        scopes=chosen,
        authority={
            "objectType": "Agent",
            "name": name,
            "account": {"homePage": home_page.rstrip("/") + "/xapi", "name": key},
        },
        created_by=uow.actor.username,
    )
    uow.session.add(row)
    uow.session.flush()
    logger.info("LRS credential %s created with scopes %s", name, ", ".join(chosen))
    return IssuedCredential(row.id, name, key, secret, chosen)


def list_credentials(session: Session) -> list[LrsCredential]:
    """Every credential, newest first."""
    return list(session.scalars(select(LrsCredential).order_by(LrsCredential.id.desc())))


def revoke_credential(uow: UnitOfWork, name_or_key: str, reason: str) -> LrsCredential:
    """Revoke a credential at once (by name or key)."""
    uow.actor.require("administrator", action="revoking an LRS credential")
    row = uow.session.scalar(
        select(LrsCredential).where((LrsCredential.name == name_or_key) | (LrsCredential.key == name_or_key))
    )
    if row is None:
        raise NotFound(f"no LRS credential named {name_or_key!r}", field="name")
    if row.revoked_at is None:
        with uow.because(reason):
            row.revoked_at = uow.clock.now()
    return row


def parse_basic(header: str | None) -> tuple[str, str]:
    """Split an HTTP Basic ``Authorization`` header into key and secret.

    Raises:
        Unauthorized: No header, another scheme, or a malformed value.
    """
    if not header:
        raise Unauthorized("send HTTP Basic credentials of an LRS credential (key:secret)")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        raise Unauthorized("the xAPI endpoints take HTTP Basic authentication only")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise Unauthorized("malformed HTTP Basic credentials") from exc
    key, sep, secret = decoded.partition(":")
    if not sep:
        raise Unauthorized("malformed HTTP Basic credentials: expected key:secret")
    return key, secret


def authenticate(db: Database, header: str | None, *, pepper: str) -> Principal:
    """Return the principal of a valid, unrevoked credential (one indexed read per request).

    Raises:
        Unauthorized: Unknown key, wrong secret or revoked credential.
    """
    key, secret = parse_basic(header)
    rows = rawdb.fetch(
        db,
        "SELECT id, name, secret_digest, scopes, authority, revoked_at FROM xapi_credential WHERE key = ?",
        (key,),
    )
    if not rows:
        raise Unauthorized("unknown LRS credential")
    credential_id, name, digest, scopes, authority, revoked_at = rows[0]
    if not hmac.compare_digest(secret_digest(secret, pepper), digest):
        raise Unauthorized("wrong secret for this LRS credential")
    if revoked_at is not None:
        raise Unauthorized(f"LRS credential {name} was revoked", code="credential_revoked")
    return Principal(credential_id, name, frozenset(rawdb.as_json(scopes)), rawdb.as_json(authority))
