"""``/api/v1/capas`` routes: CAPA records, their actions and training, lifecycle with e-signatures."""

from __future__ import annotations

from typing import Any

from bridge.core.signatures import signatures_of
from bridge.core.uow import UnitOfWork
from bridge.core.web import settings
from qms.api import api
from qms.capa import actions as capa_actions
from qms.capa import lifecycle as capa_lifecycle
from qms.capa import services as capas
from qms.capa.models import Capa, CapaAction
from qms.capa.schemas import (
    ActionDone,
    CapaActionCreate,
    CapaCancel,
    CapaClose,
    CapaCreate,
    CapaListQuery,
    RootCause,
)
from qms.roles import APPROVERS, AUTHORS, READERS
from qms.schemas import Signature

TAGS = ("CAPA",)


def lockout() -> int:
    """The signing lockout threshold of this site."""
    return settings().lockout_threshold


def action_dict(action: CapaAction) -> dict[str, Any]:
    """An action with the assignments it relies on."""
    return {
        "id": action.id,
        "seq": action.seq,
        "kind": action.kind,
        "description": action.description,
        "owner_person_id": action.owner_person_id,
        "due_at": action.due_at,
        "status": action.status,
        "training_item_ids": list(action.training_item_ids or []),
        "person_ids": list(action.person_ids or []),
        "job_function_ids": list(action.job_function_ids or []),
        "created_at": action.created_at,
        "completed_at": action.completed_at,
        "completion_note": action.completion_note,
        "assignment_ids": [link.assignment_id for link in action.links],
    }


def capa_dict(session: Any, capa: Capa, *, detail: bool = False) -> dict[str, Any]:
    """A CAPA as JSON; with ``detail``, its training linkage and signatures."""
    data: dict[str, Any] = {
        "id": capa.id,
        "number": capa.number,
        "title": capa.title,
        "description": capa.description,
        "source": capa.source,
        "source_reference": capa.source_reference,
        "deviation_id": capa.deviation_id,
        "owner_person_id": capa.owner_person_id,
        "due_at": capa.due_at,
        "status": capa.status,
        "root_cause": capa.root_cause,
        "effectiveness_summary": capa.effectiveness_summary,
        "created_at": capa.created_at,
        "approved_at": capa.approved_at,
        "approval_signature_id": capa.approval_signature_id,
        "closed_at": capa.closed_at,
        "closure_signature_id": capa.closure_signature_id,
        "cancelled_at": capa.cancelled_at,
        "cancel_reason": capa.cancel_reason,
        "actions": [action_dict(a) for a in capa.actions],
    }
    if detail:
        linkage = capas.training_linkage(session, capa)
        data["training"] = linkage
        data["open_training"] = sum(1 for row in linkage if row["open"])
        data["signatures"] = [
            {"id": s.id, "meaning": s.meaning, "manifestation": s.manifestation(), "signed_at": s.signed_at}
            for s in signatures_of(session, "qms_capa", capa.id)
        ]
    return data


@api.route("GET", "/capas", summary="List CAPAs", tags=TAGS, roles=READERS, query=CapaListQuery)
def list_capas(query: CapaListQuery, uow: UnitOfWork) -> list[dict[str, Any]]:
    """Newest first, optionally in one status."""
    return [capa_dict(uow.session, c) for c in capas.list_capas(uow.session, status=query.status)]


@api.route("POST", "/capas", summary="Open a CAPA", tags=TAGS, body=CapaCreate, roles=AUTHORS, status=201)
def create_capa(body: CapaCreate, uow: UnitOfWork) -> dict[str, Any]:
    """Number assigned by the server; a CAPA from a deviation names it; the due date is in the future."""
    capa = capas.create_capa(uow, **body.model_dump())
    result = capa_dict(uow.session, capa)
    return result


@api.route(
    "GET",
    "/capas/{capa_id}",
    summary="One CAPA with its actions, training and signatures",
    tags=TAGS,
    roles=READERS,
)
def get_capa(capa_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """The training linkage lists every assignment its training actions rely on."""
    return capa_dict(uow.session, capas.get_capa(uow.session, capa_id), detail=True)


@api.route(
    "POST",
    "/capas/{capa_id}/investigation",
    summary="Start the investigation",
    tags=TAGS,
    roles=AUTHORS,
    operation_id="capa_views_start_investigation",  # as published before CAPA became a subpackage
)
def start_investigation(capa_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """Open → investigation."""
    capa = capas.start_investigation(uow, capa_id)
    result = capa_dict(uow.session, capa)
    return result


@api.route(
    "PUT",
    "/capas/{capa_id}/root-cause",
    summary="Record the root cause",
    tags=TAGS,
    body=RootCause,
    roles=AUTHORS,
)
def record_root_cause(capa_id: int, body: RootCause, uow: UnitOfWork) -> dict[str, Any]:
    """During the investigation only."""
    capa = capas.record_root_cause(uow, capa_id, root_cause=body.root_cause)
    result = capa_dict(uow.session, capa)
    return result


@api.route(
    "POST",
    "/capas/{capa_id}/actions",
    summary="Add an action (training actions assign training)",
    tags=TAGS,
    body=CapaActionCreate,
    roles=AUTHORS,
    status=201,
)
def add_action(capa_id: int, body: CapaActionCreate, uow: UnitOfWork) -> dict[str, Any]:
    """A training action's assignments (reason ``capa``, source this CAPA) come in the same transaction."""
    action, created = capa_actions.add_action(uow, capa_id, **body.model_dump())
    result = {**action_dict(action), "assignments_created": created}
    return result


@api.route(
    "POST",
    "/capas/{capa_id}/actions/{action_id}/complete",
    summary="Record a corrective or preventive action as done",
    tags=TAGS,
    body=ActionDone,
    roles=AUTHORS,
)
def complete_action(capa_id: int, action_id: int, body: ActionDone, uow: UnitOfWork) -> dict[str, Any]:
    """Once the plan is approved; a training action completes by its assignments."""
    action = capa_actions.complete_action(uow, capa_id, action_id, note=body.note)
    result = action_dict(action)
    return result


@api.route(
    "POST",
    "/capas/{capa_id}/approve",
    summary="Approve the plan (e-signature)",
    tags=TAGS,
    body=Signature,
    roles=APPROVERS,
)
def approve_plan(capa_id: int, body: Signature, uow: UnitOfWork) -> dict[str, Any]:
    """Investigation → actions in progress; needs a root cause and at least one action; not by its author."""
    capa = capa_lifecycle.approve_plan(
        uow,
        capa_id,
        username=body.username,
        password=body.password,
        lockout_threshold=lockout(),
    )
    result = capa_dict(uow.session, capa)
    return result


@api.route(
    "POST",
    "/capas/{capa_id}/effectiveness-check",
    summary="Start the effectiveness check",
    tags=TAGS,
    roles=AUTHORS,
)
def start_effectiveness_check(capa_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """Actions in progress → effectiveness check, once corrective and preventive actions are done."""
    capa = capa_lifecycle.start_effectiveness_check(uow, capa_id)
    result = capa_dict(uow.session, capa)
    return result


@api.route(
    "POST",
    "/capas/{capa_id}/close",
    summary="Close (e-signature); refused while training is open",
    tags=TAGS,
    body=CapaClose,
    roles=APPROVERS,
)
def close_capa(capa_id: int, body: CapaClose, uow: UnitOfWork) -> dict[str, Any]:
    """Effectiveness check → closed. A 409 ``capa_training_incomplete`` lists the open assignments."""
    capa = capa_lifecycle.close_capa(
        uow,
        capa_id,
        effectiveness_summary=body.effectiveness_summary,
        username=body.username,
        password=body.password,
        lockout_threshold=lockout(),
    )
    result = capa_dict(uow.session, capa, detail=True)
    return result


@api.route(
    "POST",
    "/capas/{capa_id}/cancel",
    summary="Cancel (e-signature)",
    tags=TAGS,
    body=CapaCancel,
    roles=APPROVERS,
)
def cancel_capa(capa_id: int, body: CapaCancel, uow: UnitOfWork) -> dict[str, Any]:
    """Any state but closed → cancelled; the open assignments its actions created are cancelled."""
    capa = capa_lifecycle.cancel_capa(
        uow,
        capa_id,
        reason=body.reason,
        username=body.username,
        password=body.password,
        lockout_threshold=lockout(),
    )
    result = capa_dict(uow.session, capa, detail=True)
    return result
