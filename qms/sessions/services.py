"""Scheduling and cancelling instructor-led sessions; each invitee gets an iCalendar invitation
(or cancellation) by e-mail through the notifications.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bridge.core.errors import InvalidTransition, NotFound, ValidationFailed
from bridge.core.people import Person, get_person
from bridge.core.uow import UnitOfWork
from qms.documents import catalog
from qms.notifications import services as notifications
from qms.roles import ASSIGNERS
from qms.sessions.calendar import session_ics
from qms.sessions.models import SessionInvitee, TrainingSession

logger = logging.getLogger(__name__)


def get_session(uow: UnitOfWork, session_id: int) -> TrainingSession:
    """Return session ``session_id`` or raise :class:`NotFound`."""
    found = uow.session.get(TrainingSession, session_id)
    if found is None:
        raise NotFound(f"training session {session_id} does not exist", field="session_id")
    return found


def invitees_of(uow: UnitOfWork, session_id: int) -> list[int]:
    """The people invited to a session."""
    return list(uow.session.scalars(select(SessionInvitee.person_id).where(
        SessionInvitee.session_id == session_id).order_by(SessionInvitee.person_id)))


def schedule(uow: UnitOfWork, *, training_item_id: int, starts_at: dt.datetime, ends_at: dt.datetime,
             person_ids: list[int], title: str | None = None, location: str | None = None,
             instructor_person_id: int | None = None) -> TrainingSession:
    """Schedule a session and send each invitee an invitation."""
    uow.actor.require(*ASSIGNERS, action="scheduling a training session")
    session = uow.session
    item = catalog.require_item(session, training_item_id)
    if ends_at <= starts_at:
        raise ValidationFailed("a session ends after it starts", field="ends_at")
    if starts_at <= uow.clock.now():
        raise ValidationFailed("a session is scheduled in the future", field="starts_at")
    for person_id in {*person_ids, *([instructor_person_id] if instructor_person_id else [])}:
        get_person(session, person_id)
    domain = parseaddr(uow.settings.smtp_from)[1].rpartition("@")[2] or "gxpbridge.invalid"
    record = TrainingSession(
        uid=f"{uuid.uuid4()}@{domain}", training_item_id=training_item_id,
        title=title or item.title,
        starts_at=starts_at, ends_at=ends_at, location=location,
        instructor_person_id=instructor_person_id, status="scheduled", sequence=0)
    with uow.because("training session scheduled"):
        session.add(record)
        session.flush()
        for person_id in sorted(set(person_ids)):
            session.add(SessionInvitee(session_id=record.id, person_id=person_id))
    _invite(uow, record, sorted(set(person_ids)), "REQUEST")
    return record


def cancel(uow: UnitOfWork, session_id: int, *, reason: str) -> TrainingSession:
    """Cancel a scheduled session and send each invitee the cancellation."""
    uow.actor.require(*ASSIGNERS, action="cancelling a training session")
    record = get_session(uow, session_id)
    if record.status != "scheduled":
        raise InvalidTransition(f"session {session_id} is {record.status}", code="not_scheduled")
    with uow.because(reason):
        record.status, record.cancel_reason, record.sequence = "cancelled", reason, record.sequence + 1
    _invite(uow, record, invitees_of(uow, session_id), "CANCEL")
    return record


def _invite(uow: UnitOfWork, record: TrainingSession, person_ids: list[int], method: str) -> None:
    zone = ZoneInfo(uow.settings.site_timezone)
    base = uow.settings.base_url.rstrip("/")
    instructor = (uow.session.get(Person, record.instructor_person_id)
                  if record.instructor_person_id else None)
    kind = "session_invitation" if method == "REQUEST" else "session_cancellation"
    url = f"{base}/console/training-sessions/{record.id}"
    summary: dict[str, Any] = {
        "title": record.title, "location": record.location, "url": url, "reason": record.cancel_reason,
        "starts": f"{record.starts_at.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})",
        "ends": f"{record.ends_at.astimezone(zone):%H:%M}",
        "instructor": instructor.display_name if instructor else None}
    notices = []
    for person in uow.session.scalars(select(Person).where(Person.id.in_(person_ids))):
        ics = session_ics(method=method, uid=record.uid, sequence=record.sequence, title=record.title,
                          starts_at=record.starts_at, ends_at=record.ends_at, location=record.location,
                          organizer=uow.settings.smtp_from, attendee_name=person.display_name,
                          attendee_email=person.email or "", stamp=uow.clock.now(), url=url)
        verb = "Invitation" if method == "REQUEST" else "Cancelled"
        notices.append({"kind": kind, "person_id": person.id,
                        "key": f"{kind}:{person.id}:{record.id}:{record.sequence}",
                        "subject": f"{verb}: {record.title}, {summary['starts']}",
                        "context": {"person_id": person.id, "session": summary,
                                    "ics": {"method": method, "body": ics}}})
    notifications.queue_emails(uow, notices)
