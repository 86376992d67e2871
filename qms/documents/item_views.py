"""``/api/v1`` routes of training items: courses, sessions and OJT assessments, and their versions."""

from __future__ import annotations

from typing import Any

from bridge.core.uow import UnitOfWork
from qms import views as qms_views
from qms.api import api
from qms.documents import approval, catalog
from qms.documents import services as documents
from qms.documents.models import TrainingItem
from qms.documents.schemas import ApproveRequest, ItemQuery, ItemVersionCreate, TrainingItemCreate
from qms.roles import AUTHORS, READERS


def _item_dict(item: TrainingItem) -> dict[str, Any]:
    return {
        **qms_views.as_dict(item),
        "versions": [qms_views.as_dict(v) for v in item.versions],
        "current_version_id": item.current_version.id if item.current_version else None,
    }


@api.route(
    "GET",
    "/training-items",
    summary="List training items",
    tags=["training"],
    roles=READERS,
    query=ItemQuery,
)
def list_items(query: ItemQuery, uow: UnitOfWork) -> list[dict[str, Any]]:
    """Documents' read-and-understand items, courses, sessions and OJT assessments."""
    kinds = [query.kind] if query.kind else None
    return [_item_dict(i) for i in documents.list_training_items(uow.session, kinds=kinds)]


@api.route(
    "POST",
    "/training-items",
    summary="Create a course, session or OJT item",
    tags=["training"],
    body=TrainingItemCreate,
    roles=AUTHORS,
    status=201,
)
def create_item(body: TrainingItemCreate, uow: UnitOfWork) -> dict[str, Any]:
    """With its completion rule: signature, pass score, trainer verification."""
    item = catalog.create_training_item(uow, **body.model_dump())
    result = _item_dict(item)
    return result


@api.route("GET", "/training-items/{item_id}", summary="One training item", tags=["training"], roles=READERS)
def get_item(item_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """The item with its versions."""
    return _item_dict(documents.get_training_item(uow.session, item_id))


@api.route(
    "POST",
    "/training-items/{item_id}/versions",
    summary="Draft a version of a course, session or OJT",
    tags=["training"],
    body=ItemVersionCreate,
    roles=AUTHORS,
    status=201,
)
def create_item_version(item_id: int, body: ItemVersionCreate, uow: UnitOfWork) -> dict[str, Any]:
    """Documents' versions are made through their document instead."""
    version = catalog.create_item_version(uow, item_id, **body.model_dump())
    result = qms_views.as_dict(version)
    return result


@api.route(
    "POST",
    "/training-item-versions/{version_id}/approve",
    summary="Approve a course/session/OJT version",
    tags=["training"],
    body=ApproveRequest,
    roles=("qa_approver",),
)
def approve_item_version(version_id: int, body: ApproveRequest, uow: UnitOfWork) -> dict[str, Any]:
    """Draft → approved with an e-signature; assignments follow in the same transaction."""
    version, created = approval.approve_course_version(
        uow,
        version_id,
        username=body.username,
        password=body.password,
        effective_at=body.effective_at,
        lockout_threshold=qms_views.lockout(),
    )
    result = {**qms_views.as_dict(version), "assignments_created": len(created)}
    return result
