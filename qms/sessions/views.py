"""``/api/v1`` routes of instructor-led sessions."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, Field

from bridge.core.uow import UnitOfWork
from qms.api import api
from qms.roles import ASSIGNERS, READERS
from qms.schemas import Reason, Strict
from qms.sessions import services
from qms.sessions.models import TrainingSession

TAGS = ["training"]


class SessionCreate(Strict):
    """A session of an instructor-led training item and who is invited."""

    training_item_id: int
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    person_ids: list[int] = Field(min_length=1)
    title: str | None = Field(default=None, min_length=1, max_length=300)
    location: str | None = Field(default=None, max_length=300)
    instructor_person_id: int | None = None


class SessionCancel(Strict):
    """Why the session is cancelled."""

    reason: str = Reason


def _as_dict(uow: UnitOfWork, record: TrainingSession) -> dict[str, Any]:
    return {"id": record.id, "uid": record.uid, "training_item_id": record.training_item_id,
            "title": record.title, "starts_at": record.starts_at, "ends_at": record.ends_at,
            "location": record.location, "instructor_person_id": record.instructor_person_id,
            "status": record.status, "sequence": record.sequence,
            "person_ids": services.invitees_of(uow, record.id)}


@api.route("POST", "/training-sessions", summary="Schedule an instructor-led session (invitations sent)",
           tags=TAGS, roles=ASSIGNERS, body=SessionCreate, status=201)
def create_session(body: SessionCreate, uow: UnitOfWork) -> dict[str, Any]:
    """Each invitee gets an e-mail with an iCalendar invitation."""
    record = services.schedule(uow, **body.model_dump())
    return _as_dict(uow, record)


@api.route("GET", "/training-sessions/{session_id}", summary="One training session", tags=TAGS, roles=READERS)
def get_session(session_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """The session and its invitees."""
    return _as_dict(uow, services.get_session(uow, session_id))


@api.route("POST", "/training-sessions/{session_id}/cancel", summary="Cancel a session (cancellations sent)",
           tags=TAGS, roles=ASSIGNERS, body=SessionCancel)
def cancel_session(session_id: int, body: SessionCancel, uow: UnitOfWork) -> dict[str, Any]:
    """Each invitee gets an e-mail with an iCalendar cancellation."""
    return _as_dict(uow, services.cancel(uow, session_id, reason=body.reason))
