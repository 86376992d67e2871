"""Models of content packages: a package version (one training item version), a learner's
registration on it, and their attempts (one per play link).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.core.clock import column_now
from bridge.core.db import Base, JSONType, UTCDateTime


class ContentPackage(Base):
    """An imported package: the training item version it delivers, its bytes' SHA-256 (the file
    ``<instance>/content/packages/<sha256>.zip``), its standard and its units.

    ``units`` is the manifest's list of launchable units, each with its ``activity_iri``.
    """

    __tablename__ = "content_package"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_version_id: Mapped[int] = mapped_column(
        ForeignKey("qms_training_item_version.id"), nullable=False, unique=True
    )
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    standard: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    identifier: Mapped[str] = mapped_column(String(500), nullable=False)
    course_iri: Mapped[str] = mapped_column(String(1000), nullable=False)
    units: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False)
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    imported_by: Mapped[str] = mapped_column(String(200), nullable=False)

    __table_args__ = (Index("ix_content_package_sha256", "sha256"),)

    def unit(self, identifier: str | None) -> dict[str, Any] | None:
        """The unit named ``identifier`` (the first one when ``None``)."""
        if identifier is None:
            return self.units[0] if self.units else None
        return next((u for u in self.units if u["identifier"] == identifier), None)


class ContentRegistration(Base):
    """A person's registration on a package (the xAPI/cmi5 registration, stable across attempts,
    so suspend data and location resume).
    """

    __tablename__ = "content_registration"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registration: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    package_id: Mapped[int] = mapped_column(ForeignKey("content_package.id"), nullable=False)
    satisfied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    package: Mapped[ContentPackage] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("person_id", "package_id", name="uq_content_registration_person"),)


class ContentAttempt(Base):
    """One play of one unit: addressed by an unguessable token (only its hash is stored).

    ``cmi`` is the last committed CMI data (SCORM); ``last_sequence`` the last commit applied
    (commits are idempotent: a repeated or older sequence changes nothing). cmi5 attempts keep
    the session id, whether the auth token was fetched, and the cmi5 state (verbs seen).
    """

    __tablename__ = "content_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("content_registration.id"), nullable=False)
    unit_id: Mapped[str] = mapped_column(String(500), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    resumed: Mapped[bool] = mapped_column(nullable=False, default=False)
    last_sequence: Mapped[int] = mapped_column(Integer, nullable=False, default=-1)
    cmi: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    cmi5: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    auth_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    terminated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    registration: Mapped[ContentRegistration] = relationship(lazy="joined")

    __table_args__ = (Index("ix_content_attempt_registration", "registration_id"),)
