"""``/api/v1`` routes of change control."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bridge.core.uow import UnitOfWork
from qms import views as qms_views
from qms.api import api
from qms.changes import services as changes
from qms.changes.models import ChangeControl
from qms.changes.schemas import ChangeControlCreate
from qms.documents import views as document_views
from qms.documents.schemas import RejectRequest
from qms.policy import QmsPolicy
from qms.roles import AUTHORS, READERS
from qms.schemas import Signature


def _change_dict(change: ChangeControl) -> dict[str, Any]:
    return {
        **qms_views.as_dict(change),
        "affected": [document_views.version_dict(link.document_version) for link in change.affected],
    }


@api.route("GET", "/change-controls", summary="List change controls", tags=["change control"], roles=READERS)
def list_change_controls(uow: UnitOfWork) -> list[dict[str, Any]]:
    """Newest first."""
    return [
        _change_dict(c) for c in uow.session.scalars(select(ChangeControl).order_by(ChangeControl.id.desc()))
    ]


@api.route(
    "POST",
    "/change-controls",
    summary="Open a change control",
    tags=["change control"],
    body=ChangeControlCreate,
    roles=AUTHORS,
    status=201,
)
def create_change_control(body: ChangeControlCreate, uow: UnitOfWork) -> dict[str, Any]:
    """Affected document versions, impact, effective date (in the future), optional gate."""
    change = changes.create_change_control(uow, **body.model_dump())
    result = _change_dict(change)
    return result


@api.route(
    "GET",
    "/change-controls/{change_control_id}",
    summary="One change control",
    tags=["change control"],
    roles=READERS,
)
def get_change_control(change_control_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """With its affected versions and their training status."""
    change = changes.get_change_control(uow.session, change_control_id)
    training = changes.training_status(uow.session, change, uow.policy(QmsPolicy))
    return {**_change_dict(change), "training": training}


@api.route(
    "POST",
    "/change-controls/{change_control_id}/submit",
    summary="Submit for approval",
    tags=["change control"],
    roles=AUTHORS,
)
def submit_change_control(change_control_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """Draft → submitted; draft versions go to review."""
    change = changes.submit_change_control(uow, change_control_id)
    result = _change_dict(change)
    return result


@api.route(
    "POST",
    "/change-controls/{change_control_id}/approve",
    summary="Approve (e-signature)",
    tags=["change control"],
    body=Signature,
    roles=("qa_approver",),
)
def approve_change_control(change_control_id: int, body: Signature, uow: UnitOfWork) -> dict[str, Any]:
    """Submitted → approved; in the same transaction, assignments for everyone who needs the new
    versions (due before the effective date) and supersession of older open assignments.
    """
    change, created = changes.approve_change_control(
        uow,
        change_control_id,
        username=body.username,
        password=body.password,
        lockout_threshold=qms_views.lockout(),
    )
    result = {**_change_dict(change), "assignments_created": created}
    return result


@api.route(
    "POST",
    "/change-controls/{change_control_id}/reject",
    summary="Reject (e-signature)",
    tags=["change control"],
    body=RejectRequest,
    roles=("qa_approver",),
)
def reject_change_control(change_control_id: int, body: RejectRequest, uow: UnitOfWork) -> dict[str, Any]:
    """Submitted → rejected; versions return to draft."""
    change = changes.reject_change_control(
        uow,
        change_control_id,
        username=body.username,
        password=body.password,
        comment=body.comment,
        lockout_threshold=qms_views.lockout(),
    )
    result = _change_dict(change)
    return result
