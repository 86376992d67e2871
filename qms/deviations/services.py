"""Deviations and their training adequacy assessment.

A deviation records when it happened (``occurred_at``, never in the future), when it was
discovered, its classification and the people and documents involved. Lifecycle::

    open → under_investigation → closed (e-signature)

The *training adequacy assessment* answers, for each person × document involved, "was this
person trained, at ``occurred_at``, on the version of the document effective at that
moment?" with :func:`qms.compliance.trained_on_document_as_of` (the as-of rule of
DESIGN.md, computed from the immutable records). It is recomputable on demand; when QA
records it, the result is stored as an immutable snapshot bound to a QA signature.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.core import audit, signatures
from bridge.core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from bridge.core.people import Person, get_person
from bridge.core.uow import UnitOfWork
from qms.capa import services as capas
from qms.capa.models import Capa
from qms.deviations.models import (
    CLASSIFICATIONS,
    Deviation,
    DeviationDocument,
    DeviationPerson,
    TrainingAdequacyAssessment,
)
from qms.documents import approval
from qms.documents.models import Document
from qms.numbering import next_number
from qms.policy import QmsPolicy
from qms.roles import APPROVERS, AUTHORS

logger = logging.getLogger(__name__)


def get_deviation(session: Session, deviation_id: int, *, lock: bool = False) -> Deviation:
    """Return deviation ``deviation_id`` or raise :class:`NotFound`; ``lock`` takes its row lock
    (PostgreSQL) so that two transitions or signatures on one deviation run one after the other.
    """
    deviation = session.get(Deviation, deviation_id, with_for_update={"of": Deviation} if lock else None)
    if deviation is None:
        raise NotFound(f"deviation {deviation_id} does not exist", field="deviation_id")
    return deviation


def list_deviations(session: Session, *, status: str | None = None) -> list[Deviation]:
    """Every deviation, newest first, optionally in one status."""
    query = select(Deviation).order_by(Deviation.id.desc())
    if status:
        query = query.where(Deviation.status == status)
    return list(session.scalars(query))


def get_assessment(session: Session, deviation: Deviation, assessment_id: int) -> TrainingAdequacyAssessment:
    """Return a recorded assessment of ``deviation`` or raise :class:`NotFound`."""
    assessment = session.get(TrainingAdequacyAssessment, assessment_id)
    if assessment is None or assessment.deviation_id != deviation.id:
        raise NotFound(
            f"deviation {deviation.number} has no assessment {assessment_id}", field="assessment_id"
        )
    return assessment


def assessments_of(session: Session, deviation_id: int) -> list[TrainingAdequacyAssessment]:
    """The recorded assessments of a deviation, oldest first."""
    return list(
        session.scalars(
            select(TrainingAdequacyAssessment)
            .where(TrainingAdequacyAssessment.deviation_id == deviation_id)
            .order_by(TrainingAdequacyAssessment.id)
        )
    )


def linked_capas(session: Session, deviation_id: int) -> list[Any]:
    """The CAPAs raised from (or linked to) a deviation."""
    return list(session.scalars(select(Capa).where(Capa.deviation_id == deviation_id).order_by(Capa.id)))


def linked_capa_rows(session: Session, deviation_id: int) -> list[Any]:
    """Id, number and status of the CAPAs linked to a deviation (for its page: their actions and
    the assignments those made are not read).
    """
    return list(
        session.execute(
            select(Capa.id, Capa.number, Capa.status)
            .where(Capa.deviation_id == deviation_id)
            .order_by(Capa.id)
        )
    )


def deviation_content(deviation: Deviation) -> dict[str, Any]:
    """What a signature on a deviation binds to."""
    return {
        "number": deviation.number,
        "title": deviation.title,
        "description": deviation.description,
        "classification": deviation.classification,
        "occurred_at": deviation.occurred_at,
        "discovered_at": deviation.discovered_at,
        "people": [p.person_id for p in deviation.people],
        "documents": [d.document_id for d in deviation.documents],
        "conclusion": deviation.conclusion,
    }


# Arbitrary key of the PostgreSQL advisory lock that serialises numbering (SQLite writers
# are serialised already by BEGIN IMMEDIATE).
_NUMBERING_LOCK_KEY = 7_465_432_102


def _next_number(session: Session, now: dt.datetime) -> str:
    return next_number(session, Deviation, "DEV", _NUMBERING_LOCK_KEY, now)


def _check_people(session: Session, person_ids: list[int]) -> None:
    if len(set(person_ids)) != len(person_ids):
        raise ValidationFailed("a person is listed twice", field="person_ids")
    for person_id in person_ids:
        try:
            get_person(session, person_id)
        except NotFound as exc:
            raise NotFound(exc.message, field="person_ids") from exc


def _check_documents(session: Session, document_ids: list[int]) -> None:
    if len(set(document_ids)) != len(document_ids):
        raise ValidationFailed("a document is listed twice", field="document_ids")
    for document_id in document_ids:
        if session.get(Document, document_id) is None:
            raise NotFound(f"document {document_id} does not exist", field="document_ids")


def _check_times(occurred_at: dt.datetime, discovered_at: dt.datetime, now: dt.datetime) -> None:
    for name, value in (("occurred_at", occurred_at), ("discovered_at", discovered_at)):
        if value.tzinfo is None:
            raise ValidationFailed("the time needs a zone (e.g. 2026-05-01T08:30:00Z)", field=name)
        if value > now:
            raise ValidationFailed(
                f"{name} cannot be in the future: a deviation records what already happened",
                field=name,
                code="time_in_future",
            )
    if discovered_at < occurred_at:
        raise ValidationFailed(
            "a deviation cannot be discovered before it occurred",
            field="discovered_at",
            code="discovered_before_occurred",
        )


def create_deviation(
    uow: UnitOfWork,
    *,
    title: str,
    description: str | None,
    classification: str,
    occurred_at: dt.datetime,
    discovered_at: dt.datetime | None,
    person_ids: list[int],
    document_ids: list[int],
) -> Deviation:
    """Record a deviation with the people and documents involved."""
    uow.actor.require(*AUTHORS, action="recording a deviation")
    session = uow.session
    now = uow.clock.now()
    discovered_at = discovered_at or now
    if classification not in CLASSIFICATIONS:
        raise ValidationFailed(
            f"classification must be one of {', '.join(CLASSIFICATIONS)}", field="classification"
        )
    _check_times(occurred_at, discovered_at, now)
    _check_people(session, person_ids)
    _check_documents(session, document_ids)
    deviation = Deviation(
        number=_next_number(session, uow.clock.now()),
        title=title.strip(),
        description=description,
        classification=classification,
        occurred_at=occurred_at,
        discovered_at=discovered_at,
        status="open",
        author_user_id=uow.actor.user_id,
    )
    session.add(deviation)
    session.flush()
    for person_id in person_ids:
        session.add(DeviationPerson(deviation_id=deviation.id, person_id=person_id))
    for document_id in document_ids:
        session.add(DeviationDocument(deviation_id=deviation.id, document_id=document_id))
    session.flush()
    session.expire(deviation, ["people", "documents"])
    logger.info("deviation %s recorded", deviation.number)
    return deviation


def require_not_closed(deviation: Deviation, action: str) -> None:
    """Refuse ``action`` on a closed deviation."""
    if deviation.status == "closed":
        raise InvalidTransition(f"{action}: deviation {deviation.number} is closed", field="status")


def set_involved(
    uow: UnitOfWork, deviation_id: int, *, person_ids: list[int], document_ids: list[int], reason: str
) -> Deviation:
    """Replace the people and documents involved (while the deviation is not closed)."""
    uow.actor.require(*AUTHORS, action="changing who and what a deviation involves")
    session = uow.session
    deviation = get_deviation(session, deviation_id, lock=True)
    require_not_closed(deviation, "changing the people and documents involved")
    if not reason.strip():
        raise ValidationFailed("say why the people or documents involved change", field="reason")
    _check_people(session, person_ids)
    _check_documents(session, document_ids)
    with uow.because(reason.strip()):
        for link in list(deviation.people):
            if link.person_id not in person_ids:
                session.delete(link)
        for link in list(deviation.documents):
            if link.document_id not in document_ids:
                session.delete(link)
        have_people = {p.person_id for p in deviation.people}
        have_docs = {d.document_id for d in deviation.documents}
        for person_id in person_ids:
            if person_id not in have_people:
                session.add(DeviationPerson(deviation_id=deviation.id, person_id=person_id))
        for document_id in document_ids:
            if document_id not in have_docs:
                session.add(DeviationDocument(deviation_id=deviation.id, document_id=document_id))
    session.flush()
    session.expire(deviation, ["people", "documents"])
    return deviation


def _transition(
    uow: UnitOfWork, deviation: Deviation, expected: tuple[str, ...], new: str, action: str
) -> None:
    if deviation.status not in expected:
        raise InvalidTransition(
            f"{action} needs a deviation in status {' or '.join(expected)}; "
            f"{deviation.number} is {deviation.status}",
            field="status",
        )
    old, deviation.status = deviation.status, new
    audit.record(
        uow, f"deviation.{new}", "qms_deviation", deviation.id, old={"status": old}, new={"status": new}
    )


def start_investigation(uow: UnitOfWork, deviation_id: int) -> Deviation:
    """Open → under investigation."""
    uow.actor.require(*AUTHORS, action="starting a deviation investigation")
    deviation = get_deviation(uow.session, deviation_id, lock=True)
    _transition(uow, deviation, ("open",), "under_investigation", "starting the investigation")
    deviation.investigation_started_at = uow.clock.now()
    uow.session.flush()
    return deviation


def link_capa(uow: UnitOfWork, deviation_id: int, capa_id: int) -> Any:
    """Link an existing CAPA to the deviation (a CAPA answers at most one deviation)."""
    uow.actor.require(*AUTHORS, action="linking a CAPA to a deviation")
    session = uow.session
    deviation = get_deviation(session, deviation_id, lock=True)
    require_not_closed(deviation, "linking a CAPA")
    capa = capas.get_capa(session, capa_id, lock=True)
    if capa.deviation_id == deviation.id:
        raise Conflict(
            f"{capa.number} is already linked to {deviation.number}", field="capa_id", code="already_linked"
        )
    if capa.deviation_id is not None:
        raise Conflict(
            f"{capa.number} already answers another deviation", field="capa_id", code="already_linked"
        )
    if capa.status in ("closed", "cancelled"):
        raise InvalidTransition(f"{capa.number} is {capa.status}", field="capa_id", code="capa_not_open")
    capa.deviation_id = deviation.id
    session.flush()
    return capa


def close_deviation(
    uow: UnitOfWork,
    deviation_id: int,
    *,
    conclusion: str,
    username: str,
    password: str,
    lockout_threshold: int,
) -> Deviation:
    """Under investigation → closed, signed by QA.

    When people and documents are involved, a recorded training adequacy assessment is
    required first; an ``inadequate`` one requires a linked CAPA that is not cancelled.
    """
    uow.actor.require(*APPROVERS, action="closing a deviation")
    session = uow.session
    deviation = get_deviation(session, deviation_id, lock=True)
    approval.check_not_self_approval(
        uow, deviation.author_user_id, f"deviation {deviation.number}", uow.policy(QmsPolicy), action="close"
    )
    _transition(uow, deviation, ("under_investigation",), "closed", "closing")
    if not conclusion.strip():
        raise ValidationFailed("state the conclusion of the investigation", field="conclusion")
    recorded = assessments_of(session, deviation.id)
    if deviation.people and deviation.documents:
        if not recorded:
            raise InvalidTransition(
                f"{deviation.number} involves people and documents: record the training adequacy "
                "assessment before closing",
                field="training_assessment",
                code="assessment_required",
            )
        if recorded[-1].conclusion == "inadequate" and not any(
            c.status != "cancelled" for c in linked_capas(session, deviation.id)
        ):
            raise InvalidTransition(
                f"training was found inadequate for {deviation.number}: link a CAPA before closing",
                field="capa_id",
                code="capa_required",
            )
    deviation.conclusion = conclusion.strip()
    signature = signatures.sign(
        uow,
        username=username,
        password=password,
        meaning="closed",
        record_type="qms_deviation",
        record_id=deviation.id,
        content=deviation_content(deviation),
        lockout_threshold=lockout_threshold,
    )
    deviation.closed_at = signature.signed_at
    deviation.closure_signature_id = signature.id
    session.flush()
    return deviation


def list_statement(*, status: str | None = None, classification: str | None = None,
                   search: str | None = None) -> Any:
    """The deviation list's query, filtered; the page sorts and pages it."""
    statement = select(Deviation)
    if status:
        statement = statement.where(Deviation.status == status)
    if classification:
        statement = statement.where(Deviation.classification == classification)
    if search and search.strip():
        like = f"%{search.strip().lower()}%"
        statement = statement.where(
            func.lower(Deviation.number).like(like) | func.lower(Deviation.title).like(like)
        )
    return statement


def involved(session: Session, deviation: Deviation) -> dict[str, list[Any]]:
    """The people (name, employee number) and documents (code, title) a deviation involves."""
    person_ids = [p.person_id for p in deviation.people] or [0]
    document_ids = [d.document_id for d in deviation.documents] or [0]
    return {
        "people": list(session.execute(select(Person.id, Person.display_name, Person.employee_no)
                                       .where(Person.id.in_(person_ids)).order_by(Person.display_name)).all()),
        "documents": list(session.execute(select(Document.id, Document.code, Document.title)
                                          .where(Document.id.in_(document_ids)).order_by(Document.code)).all()),
    }
