"""Electronic signatures (21 CFR Part 11 §11.50, §11.70, §11.200).

A signature records who signed (printed name), when (server UTC), and what it means; it is
bound to the SHA-256 of the signed record's canonical content, so any later change to the
record is visible as a broken signature. Each signature re-checks the signer's password.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bridge.core import audit
from bridge.core.accounts import UserAccount, check_credentials
from bridge.core.db import Base, UTCDateTime
from bridge.core.errors import Forbidden, NotFound, Unauthorized, ValidationFailed
from bridge.core.uow import UnitOfWork

logger = logging.getLogger(__name__)

MEANINGS = {
    "authored": "I am the author of this record",
    "reviewed": "I have reviewed this record",
    "approved": "I approve this record",
    "read_and_understood": "I have read and understood this document",
    "trainer_verified": "I verify the trainee performed this task competently",
    "attendance_confirmed": "I confirm the attendance recorded on this roster",
    "closed": "I confirm this record is complete and close it",
    "rejected": "I reject this record",
}


class ElectronicSignature(Base):
    """An executed electronic signature. Immutable."""

    __tablename__ = "electronic_signature"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    signer_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), nullable=False)
    signer_person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    printed_name: Mapped[str] = mapped_column(String(200), nullable=False)
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    meaning: Mapped[str] = mapped_column(String(32), nullable=False)
    meaning_text: Mapped[str] = mapped_column(String(200), nullable=False)
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    record_type: Mapped[str] = mapped_column(String(64), nullable=False)
    record_id: Mapped[str] = mapped_column(String(64), nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_electronic_signature_record", "record_type", "record_id"),)

    def manifestation(self) -> str:
        """The human-readable signature line shown with the record (§11.50)."""
        return (f"{self.printed_name} — {self.meaning_text} — "
                f"{self.signed_at.strftime('%Y-%m-%d %H:%M:%S UTC')}")


def content_hash(content: Any) -> str:
    """SHA-256 of the canonical JSON of ``content``."""
    return hashlib.sha256(audit.canonical_json(audit.jsonable(content)).encode()).hexdigest()


def sign(
    uow: UnitOfWork,
    *,
    username: str,
    password: str,
    meaning: str,
    record_type: str,
    record_id: str | int,
    content: Any,
    lockout_threshold: int,
    comment: str | None = None,
) -> ElectronicSignature:
    """Execute a signature by the acting user on a record.

    Args:
        uow: Unit of work; its actor must be the signer.
        username: The signer's user name, re-entered (first component, §11.200).
        password: The signer's password, re-entered at each signing (second component).
        meaning: One of :data:`MEANINGS`.
        record_type: Kind of record signed.
        record_id: Its id.
        content: The record's signed content; its hash binds the signature.
        lockout_threshold: Failures before the account locks.
        comment: Optional comment.

    Raises:
        Forbidden: The username is not the acting user's (no signing for another person).
        Unauthorized: Wrong password (counted toward lockout).
        AccountLocked: The account is locked.
    """
    if meaning not in MEANINGS:
        raise ValidationFailed(
            f"unknown signature meaning {meaning!r}; one of {', '.join(MEANINGS)}",
            field="meaning",
        )
    actor = uow.actor
    if actor.user_id is None:
        raise Unauthorized("only a signed-in user can sign")
    user = uow.session.get(UserAccount, actor.user_id)
    if user is None:
        raise Unauthorized("the signing account no longer exists")
    if (username or "").strip().lower() != user.username:
        raise Forbidden(
            "a signature can only be executed by its owner: the username entered is not "
            "the signed-in user's", field="username", code="not_signer",
        )
    check_credentials(uow, user, password, threshold=lockout_threshold,
                      context="signature", signing=True)
    signature = ElectronicSignature(
        signer_user_id=user.id,
        signer_person_id=user.person_id,
        printed_name=user.person.display_name,
        username=user.username,
        meaning=meaning,
        meaning_text=MEANINGS[meaning],
        signed_at=uow.clock.now(),
        record_type=record_type,
        record_id=str(record_id),
        content_hash=content_hash(content),
        comment=comment,
    )
    uow.session.add(signature)
    uow.session.flush()
    logger.info("signature %s by %s (%s) on %s %s", signature.id, user.username, meaning,
                record_type, record_id)
    return signature


@dataclass
class SignatureCheck:
    """Whether a signature still matches its record."""

    signature_id: int
    valid: bool
    expected_hash: str
    actual_hash: str


def verify(session: Session, signature_id: int, current_content: Any) -> SignatureCheck:
    """Check that the record's current content still hashes to what was signed."""
    signature = session.get(ElectronicSignature, signature_id)
    if signature is None:
        raise NotFound(f"no signature {signature_id}", field="signature_id")
    actual = content_hash(current_content)
    return SignatureCheck(signature.id, actual == signature.content_hash,
                          signature.content_hash, actual)


def signatures_of(session: Session, record_type: str, record_id: str | int) -> list[ElectronicSignature]:
    """Every signature executed on one record, oldest first."""
    return list(session.scalars(
        select(ElectronicSignature)
        .where(ElectronicSignature.record_type == record_type,
               ElectronicSignature.record_id == str(record_id))
        .order_by(ElectronicSignature.id)
    ))
