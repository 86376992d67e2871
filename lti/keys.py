"""The tool's signing keys: generated on first use, kept in the database, rotated by command.

The active key signs deep-linking responses and client-credentials assertions; keys
retired less than :data:`RETIRED_KEY_GRACE` ago stay in the published JWKS so that
messages signed just before a rotation still verify.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bridge.core.uow import UnitOfWork
from lti.models import LtiToolKey

logger = logging.getLogger(__name__)

KEY_SIZE = 2048
RETIRED_KEY_GRACE = dt.timedelta(days=2)


def _new_key_material() -> tuple[str, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    private_pem = private.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode()
    from jwcrypto.jwk import JWK  # loaded when a key is made, not by every served process

    jwk = JWK.from_pem(private_pem.encode())
    public = json.loads(jwk.export_public())
    public.update({"kid": jwk.thumbprint(), "alg": "RS256", "use": "sig"})
    return private_pem, public


def active_key(session: Session) -> LtiToolKey | None:
    """The newest key that is not retired, if any."""
    return session.scalar(
        select(LtiToolKey).where(LtiToolKey.retired_at.is_(None)).order_by(LtiToolKey.id.desc()).limit(1)
    )


def create_key(uow: UnitOfWork) -> LtiToolKey:
    """Generate a new key pair and make it the active key."""
    private_pem, public = _new_key_material()
    key = LtiToolKey(kid=public["kid"], private_key_pem=private_pem, public_jwk=public)
    uow.session.add(key)
    uow.session.flush()
    logger.info("generated LTI tool key %s", key.kid)
    return key


def ensure_key(uow: UnitOfWork) -> LtiToolKey:
    """The active key, generating the first one in the caller's unit of work if none exists.

    The caller owns (and commits) the unit of work: the key exists once that request or
    command commits. Two first requests racing each make a key; the newest is the active one.
    """
    key = active_key(uow.session)
    if key is None:
        with uow.because("first start: the LTI tool needs a signing key"):
            key = create_key(uow)
    return key


def rotate(uow: UnitOfWork, reason: str) -> LtiToolKey:
    """Retire the current keys and make a new one active."""
    uow.actor.require("administrator", action="rotating the LTI tool key")
    now = uow.clock.now()
    with uow.because(reason):
        for key in uow.session.scalars(select(LtiToolKey).where(LtiToolKey.retired_at.is_(None))):
            key.retired_at = now
        return create_key(uow)


def published_keys(session: Session, now: dt.datetime) -> list[LtiToolKey]:
    """Keys in the JWKS at ``now``: the active ones and those retired within the grace period."""
    cutoff = now - RETIRED_KEY_GRACE
    return list(session.scalars(
        select(LtiToolKey)
        .where(or_(LtiToolKey.retired_at.is_(None), LtiToolKey.retired_at > cutoff))
        .order_by(LtiToolKey.id.desc())
    ))


def jwks(session: Session, now: dt.datetime) -> dict[str, list[dict[str, Any]]]:
    """The public JSON Web Key Set of the tool at ``now``."""
    return {"keys": [dict(key.public_jwk) for key in published_keys(session, now)]}
