"""Models of onboarding: import batches (a file brought in, its SHA-256, the counts and the
importer's e-signature), identity reconciliation decisions, and signed day-0 cut-overs.

A legacy completion is an ordinary immutable ``qms_completion`` with ``method = 'migrated'``, no
learner signature, and ``evidence`` naming its batch, row, source system, trainer and evidence
reference: the per-row record of the batch. The batch is audited once (one row per batch).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridge.core.clock import column_now
from bridge.core.db import Base, JSONType, UTCDateTime

BATCH_KINDS = ("document_register", "legacy_training")
MATCH_DECISIONS = ("accepted", "rejected")
MIGRATED_METHOD = "migrated"


class ImportBatch(Base):
    """One imported file: what it was, what it created, who imported (and signed) it."""

    __tablename__ = "qms_import_batch"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(8), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    rows: Mapped[int] = mapped_column(Integer, nullable=False)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    source_system: Mapped[str | None] = mapped_column(String(200))
    imported_by: Mapped[str] = mapped_column(String(64), nullable=False)
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    signature_id: Mapped[int | None] = mapped_column(ForeignKey("electronic_signature.id"))

    __table_args__ = (Index("ix_qms_import_batch_kind", "kind", "imported_at"),)


class IdentityDecision(Base):
    """A human decision on a candidate identity match (accepted links, rejected never proposes again).

    ``source`` is ``lti`` (a person known only from LMS launches) or ``xapi`` (an actor waiting in
    the evidence inbox); ``source_key`` names it (``person:<id>`` or the inbox actor key).
    """

    __tablename__ = "qms_identity_decision"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(8), nullable=False)
    source_key: Mapped[str] = mapped_column(String(1100), nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    decision: Mapped[str] = mapped_column(String(12), nullable=False)
    evidence: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    decided_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    __table_args__ = (Index("ix_qms_identity_decision_source", "source", "person_id"),)


class Cutover(Base):
    """A day-0 cut-over: the qualification of every person at a moment, signed by QA."""

    __tablename__ = "qms_cutover"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cutover_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    people: Mapped[int] = mapped_column(Integer, nullable=False)
    qualified: Mapped[int] = mapped_column(Integer, nullable=False)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    signature_id: Mapped[int | None] = mapped_column(ForeignKey("electronic_signature.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
