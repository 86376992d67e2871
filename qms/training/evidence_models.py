"""Models of training evidence: what the LMS and its content said a person did on a training item
version (from stored xAPI statements), the inbox of statements nobody is mapped to yet, and the
index of the activity IRIs each training item version lists.

Evidence rows are append-only (a flush that updates or deletes one raises): withdrawing evidence
appends a row that names the row it withdraws. The IRI index is kept by a mapper listener from
``TrainingItemVersion.activity_iris``, so a batch of statements finds its versions in one query.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    event,
    insert,
    inspect,
)
from sqlalchemy.orm import Mapped, mapped_column

from bridge.core.clock import column_now
from bridge.core.db import Base, JSONType, UTCDateTime
from qms.documents.models import TrainingItemVersion

logger = logging.getLogger(__name__)

# What a piece of evidence did (``decision``), with ``reason`` saying why in words.
DECISIONS = (
    "completed",  # it completed the assignment (a completion was recorded)
    "content_complete",  # it moved the assignment to content complete (a signature/sign-off follows)
    "failed",  # the learner failed: recorded and shown
    "below_pass_mark",  # a score below the item's pass mark
    "recorded",  # kept and shown; it changes nothing (no open assignment, no score to judge...)
    "other_version",  # names a version the trained-rule does not accept for the open assignment
    "presented",  # the content was viewed (a document presented)
    "refused",  # bad input (a person who left, a retired version): kept with the reason
    "withdrawn",  # withdraws ``withdraws_id`` (its statement was voided)
    "review_required",  # its statement was voided but a completion or signature rests on it
)


def iri_key(iri: str) -> str:
    """The fixed-width key of an activity IRI (SHA-256 hex): IRIs may be long."""
    return hashlib.sha256(iri.encode()).hexdigest()


class ActivityIri(Base):
    """One activity IRI a training item version lists (the index of ``activity_iris``)."""

    __tablename__ = "qms_activity_iri"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    iri_key: Mapped[str] = mapped_column(String(64), nullable=False)
    iri: Mapped[str] = mapped_column(Text, nullable=False)
    item_version_id: Mapped[int] = mapped_column(ForeignKey("qms_training_item_version.id"), nullable=False)

    __table_args__ = (
        UniqueConstraint("iri_key", "item_version_id", name="uq_qms_activity_iri_version"),
        Index("ix_qms_activity_iri_version", "item_version_id"),
    )


class Evidence(Base):
    """What one stored statement says a person did on a training item version, and what it did.

    Append-only (database triggers refuse UPDATE and DELETE). ``statement_id`` is unique: a
    statement adds evidence once, however often it is stored or mapped. Written in bulk by
    :mod:`qms.training.evidence`, which audits the rows that change a regulated record (see
    ``qms.training.evidence.AUDITED_DECISIONS``) and every withdrawal.
    """

    __tablename__ = "qms_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    statement_id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    training_item_id: Mapped[int] = mapped_column(ForeignKey("qms_training_item.id"), nullable=False)
    item_version_id: Mapped[int] = mapped_column(ForeignKey("qms_training_item_version.id"), nullable=False)
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("qms_assignment.id"))
    completion_id: Mapped[int | None] = mapped_column(ForeignKey("qms_completion.id"))
    withdraws_id: Mapped[int | None] = mapped_column(ForeignKey("qms_evidence.id"))
    verb: Mapped[str] = mapped_column(String(500), nullable=False)
    activity_iri: Mapped[str] = mapped_column(Text, nullable=False)
    success: Mapped[bool | None] = mapped_column(Boolean)
    completion: Mapped[bool | None] = mapped_column(Boolean)
    score_raw: Mapped[float | None] = mapped_column(Float)
    score_min: Mapped[float | None] = mapped_column(Float)
    score_max: Mapped[float | None] = mapped_column(Float)
    score_scaled: Mapped[float | None] = mapped_column(Float)
    duration: Mapped[str | None] = mapped_column(String(64))
    registration: Mapped[str | None] = mapped_column(String(36))
    occurred_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision: Mapped[str] = mapped_column(String(24), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="statement")
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    __table_args__ = (
        Index("ix_qms_evidence_person_item", "person_id", "training_item_id"),
        Index("ix_qms_evidence_assignment", "assignment_id"),
        Index("ix_qms_evidence_completion", "completion_id"),
        Index("ix_qms_evidence_withdraws", "withdraws_id"),
        Index("ix_qms_evidence_decision", "decision"),
    )


@event.listens_for(Evidence, "before_update")
@event.listens_for(Evidence, "before_delete")
def _evidence_is_append_only(_mapper: Any, _connection: Any, target: Evidence) -> None:
    raise RuntimeError(f"evidence {target.id} is append-only: withdraw it with a new row instead")


class EvidenceInbox(Base):
    """A stored statement whose actor or activity maps to nobody yet (or to more than one).

    A work queue, not a regulated record: mapping the actor or the activity applies the waiting
    statements once (``applied_at``, ``evidence_id``); a voided statement leaves the queue.
    """

    __tablename__ = "qms_evidence_inbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    statement_id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    actor_mapped: Mapped[bool] = mapped_column(Boolean, nullable=False)
    activity_mapped: Mapped[bool] = mapped_column(Boolean, nullable=False)
    actor_key: Mapped[str] = mapped_column(String(1100), nullable=False)
    actor_name: Mapped[str | None] = mapped_column(String(500))
    activity_key: Mapped[str] = mapped_column(String(64), nullable=False)
    activity_iri: Mapped[str] = mapped_column(Text, nullable=False)
    verb: Mapped[str] = mapped_column(String(500), nullable=False)
    observation: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    evidence_id: Mapped[int | None] = mapped_column(Integer)
    voided: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    __table_args__ = (
        Index("ix_qms_evidence_inbox_actor", "actor_key"),
        Index("ix_qms_evidence_inbox_activity", "activity_key"),
    )


# -- the IRI index follows the versions' lists ------------------------------------------------------


def _index_rows(target: TrainingItemVersion) -> list[dict[str, Any]]:
    iris = sorted({iri for iri in (target.activity_iris or []) if iri})
    return [{"iri_key": iri_key(iri), "iri": iri, "item_version_id": target.id} for iri in iris]


@event.listens_for(TrainingItemVersion, "after_insert")
def _index_new_version(_mapper: Any, connection: Any, target: TrainingItemVersion) -> None:
    rows = _index_rows(target)
    if rows:
        connection.execute(insert(ActivityIri.__table__), rows)


@event.listens_for(TrainingItemVersion, "after_update")
def _reindex_version(_mapper: Any, connection: Any, target: TrainingItemVersion) -> None:
    if not inspect(target).attrs.activity_iris.history.has_changes():
        return
    table = ActivityIri.__table__
    connection.execute(delete(table).where(table.c.item_version_id == target.id))
    rows = _index_rows(target)
    if rows:
        connection.execute(insert(table), rows)
