"""People and the identities that name them in other systems (LTI, xAPI, e-mail).

A person exists once, however many systems know them: the LMS launch (issuer + ``sub``),
the LMS's xAPI statements (account home page + name, or ``mbox``) and the console account
all resolve to the same row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from bridge.core.clock import column_now
from bridge.core.db import Base, UTCDateTime
from bridge.core.errors import Conflict, NotFound, ValidationFailed
from bridge.core.events import DomainEvent

logger = logging.getLogger(__name__)

IDENTITY_KINDS = ("lti", "xapi_account", "mbox", "mbox_sha1sum", "employee_no")


@dataclass(frozen=True)
class IdentityLinked(DomainEvent):
    """An identity (LTI, xAPI account, e-mail...) now names a person: whatever waited for it
    (statements of an actor nobody was known by) may now be theirs.
    """

    person_id: int
    kind: str
    namespace: str
    value: str


class Person(Base):
    """A human being who may need training, train others, or review records."""

    __tablename__ = "person"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    email: Mapped[str | None] = mapped_column(String(320))
    employee_no: Mapped[str | None] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    identities: Mapped[list[PersonIdentity]] = relationship(
        back_populates="person", cascade="all, delete-orphan", lazy="selectin"
    )


class PersonIdentity(Base):
    """One external identifier of a person, unique across all people.

    ``namespace`` is the LTI issuer, the xAPI account home page, or empty for ``mbox``.
    """

    __tablename__ = "person_identity"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    namespace: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    value: Mapped[str] = mapped_column(String(500), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    person: Mapped[Person] = relationship(back_populates="identities")

    __table_args__ = (
        UniqueConstraint("kind", "namespace", "value", name="uq_person_identity_key"),
        Index("ix_person_identity_person", "person_id"),
    )


def normalise_identity(kind: str, namespace: str | None, value: str) -> tuple[str, str, str]:
    """Validate and normalise an identity key (mbox lower-cased, ``mailto:`` prefixed)."""
    if kind not in IDENTITY_KINDS:
        raise ValidationFailed(f"unknown identity kind {kind!r}", field="kind")
    value = (value or "").strip()
    if not value:
        raise ValidationFailed("an identity needs a value", field="value")
    namespace = (namespace or "").strip()
    if kind == "mbox":
        value = value.lower()
        if not value.startswith("mailto:"):
            value = "mailto:" + value
    if kind in ("lti", "xapi_account") and not namespace:
        raise ValidationFailed(f"a {kind} identity needs its issuer or home page", field="namespace")
    return kind, namespace, value


def find_person_by_identity(
    session: Session, kind: str, namespace: str | None, value: str
) -> Person | None:
    """Return the person holding the identity, or ``None``."""
    kind, namespace, value = normalise_identity(kind, namespace, value)
    return session.scalar(
        select(Person)
        .join(PersonIdentity)
        .where(
            PersonIdentity.kind == kind,
            PersonIdentity.namespace == namespace,
            PersonIdentity.value == value,
        )
    )


def mbox_sha1sum(mbox: str) -> str:
    """The xAPI ``mbox_sha1sum`` of an ``mailto:`` IRI."""
    return hashlib.sha1(mbox.encode()).hexdigest()  # noqa: S324 - the xAPI spec mandates SHA-1


def link_identity(
    session: Session, person: Person, kind: str, namespace: str | None, value: str
) -> PersonIdentity:
    """Attach an identity to ``person``; refuse one that already names someone else."""
    kind, namespace, value = normalise_identity(kind, namespace, value)
    holder = find_person_by_identity(session, kind, namespace, value)
    if holder is not None:
        if holder.id == person.id:
            return next(i for i in holder.identities
                        if (i.kind, i.namespace, i.value) == (kind, namespace, value))
        raise Conflict(
            f"identity {kind}:{namespace}:{value} already belongs to person {holder.id}",
            field="identity",
        )
    identity = PersonIdentity(kind=kind, namespace=namespace, value=value)
    person.identities.append(identity)
    linked = [(kind, namespace, value)]
    if kind == "mbox":
        # Statements may name the learner by the hash of the same address.
        sha = mbox_sha1sum(value)
        if find_person_by_identity(session, "mbox_sha1sum", "", sha) is None:
            person.identities.append(PersonIdentity(kind="mbox_sha1sum", namespace="", value=sha))
            linked.append(("mbox_sha1sum", "", sha))
    session.flush()
    uow = session.info.get("uow")  # a unit of work's session: its rules learn of the new identity
    if uow is not None:
        for key in linked:
            uow.publish(IdentityLinked(person.id, *key))
    return identity


def create_person(
    session: Session,
    display_name: str,
    *,
    email: str | None = None,
    employee_no: str | None = None,
) -> Person:
    """Create a person (and their ``mbox`` identity when an e-mail is given)."""
    display_name = (display_name or "").strip()
    if not display_name:
        raise ValidationFailed("a person needs a name", field="display_name")
    if employee_no and session.scalar(select(Person.id).where(Person.employee_no == employee_no)):
        raise Conflict(f"employee number {employee_no} is already used", field="employee_no")
    person = Person(display_name=display_name, email=email, employee_no=employee_no)
    session.add(person)
    session.flush()
    if email:
        link_identity(session, person, "mbox", "", email)
    return person


def get_person(session: Session, person_id: int) -> Person:
    """Return person ``person_id`` or raise :class:`NotFound`."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"person {person_id} does not exist", field="person_id")
    return person
