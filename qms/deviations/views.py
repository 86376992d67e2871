"""``/api/v1/deviations`` routes: deviations, the people and documents involved, the training
adequacy assessment (recomputed on demand, recorded as a signed snapshot) and closure.
"""

from __future__ import annotations

from typing import Any

from bridge.core.signatures import ElectronicSignature, signatures_of
from bridge.core.uow import UnitOfWork
from bridge.core.web import settings
from qms.api import api
from qms.capa import views as capa_views
from qms.deviations import assessments as deviation_assessments
from qms.deviations import services as deviations
from qms.deviations.models import Deviation, TrainingAdequacyAssessment
from qms.deviations.schemas import (
    AssessmentRecord,
    CapaLink,
    DeviationClose,
    DeviationCreate,
    DeviationListQuery,
    InvolvedUpdate,
)
from qms.roles import APPROVERS, AUTHORS, READERS

TAGS = ("deviations",)


def lockout() -> int:
    """The signing lockout threshold of this site."""
    return settings().lockout_threshold


def assessment_dict(
    session: Any,
    deviation: Deviation,
    assessment: TrainingAdequacyAssessment,
    *,
    full: bool = True,
) -> dict[str, Any]:
    """A recorded assessment with its signature manifestation and whether it still verifies."""
    signature = session.get(ElectronicSignature, assessment.signature_id)
    data: dict[str, Any] = {
        "id": assessment.id,
        "deviation_id": assessment.deviation_id,
        "assessed_at": assessment.assessed_at,
        "as_of": assessment.as_of,
        "pairs": assessment.pairs,
        "trained": assessment.trained,
        "conclusion": assessment.conclusion,
        "rationale": assessment.rationale,
        "signature_id": assessment.signature_id,
        "signature": signature.manifestation() if signature else None,
        "signature_valid": deviation_assessments.verify_assessment(session, deviation, assessment),
    }
    if full:
        data["result"] = assessment.result
    return data


def deviation_dict(session: Any, deviation: Deviation, *, detail: bool = False) -> dict[str, Any]:
    """A deviation as JSON; with ``detail``, its CAPAs, assessments and signatures."""
    data: dict[str, Any] = {
        "id": deviation.id,
        "number": deviation.number,
        "title": deviation.title,
        "description": deviation.description,
        "classification": deviation.classification,
        "occurred_at": deviation.occurred_at,
        "discovered_at": deviation.discovered_at,
        "status": deviation.status,
        "conclusion": deviation.conclusion,
        "created_at": deviation.created_at,
        "investigation_started_at": deviation.investigation_started_at,
        "closed_at": deviation.closed_at,
        "closure_signature_id": deviation.closure_signature_id,
        "person_ids": [p.person_id for p in deviation.people],
        "document_ids": [d.document_id for d in deviation.documents],
    }
    if detail:
        data["capas"] = [
            capa_views.capa_dict(session, c) for c in deviations.linked_capas(session, deviation.id)
        ]
        data["assessments"] = [
            assessment_dict(session, deviation, a, full=False)
            for a in deviations.assessments_of(session, deviation.id)
        ]
        data["signatures"] = [
            {"id": s.id, "meaning": s.meaning, "manifestation": s.manifestation(), "comment": s.comment}
            for s in signatures_of(session, "qms_deviation", deviation.id)
        ]
    return data


@api.route(
    "GET", "/deviations", summary="List deviations", tags=TAGS, roles=READERS, query=DeviationListQuery
)
def list_deviations(query: DeviationListQuery, uow: UnitOfWork) -> list[dict[str, Any]]:
    """Newest first, optionally in one status."""
    return [
        deviation_dict(uow.session, d) for d in deviations.list_deviations(uow.session, status=query.status)
    ]


@api.route(
    "POST",
    "/deviations",
    summary="Record a deviation",
    tags=TAGS,
    body=DeviationCreate,
    roles=AUTHORS,
    status=201,
)
def create_deviation(body: DeviationCreate, uow: UnitOfWork) -> dict[str, Any]:
    """``occurred_at`` may be in the past, never in the future; discovery not before occurrence."""
    deviation = deviations.create_deviation(uow, **body.model_dump())
    result = deviation_dict(uow.session, deviation)
    return result


@api.route(
    "GET",
    "/deviations/{deviation_id}",
    summary="One deviation with its CAPAs, assessments and signatures",
    tags=TAGS,
    roles=READERS,
)
def get_deviation(deviation_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """Each recorded assessment says whether its signature still verifies."""
    return deviation_dict(uow.session, deviations.get_deviation(uow.session, deviation_id), detail=True)


@api.route(
    "PUT",
    "/deviations/{deviation_id}/involved",
    summary="Replace the people and documents involved",
    tags=TAGS,
    body=InvolvedUpdate,
    roles=AUTHORS,
)
def set_involved(deviation_id: int, body: InvolvedUpdate, uow: UnitOfWork) -> dict[str, Any]:
    """Not once closed; the reason goes into the audit trail."""
    deviation = deviations.set_involved(
        uow, deviation_id, person_ids=body.person_ids, document_ids=body.document_ids, reason=body.reason
    )
    result = deviation_dict(uow.session, deviation)
    return result


@api.route(
    "POST",
    "/deviations/{deviation_id}/investigation",
    summary="Start the investigation",
    tags=TAGS,
    roles=AUTHORS,
    operation_id="deviation_views_start_investigation",  # as published before deviations/ existed
)
def start_investigation(deviation_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """Open → under investigation."""
    deviation = deviations.start_investigation(uow, deviation_id)
    result = deviation_dict(uow.session, deviation)
    return result


@api.route(
    "POST",
    "/deviations/{deviation_id}/capas",
    summary="Link an existing CAPA",
    tags=TAGS,
    body=CapaLink,
    roles=AUTHORS,
)
def link_capa(deviation_id: int, body: CapaLink, uow: UnitOfWork) -> dict[str, Any]:
    """A CAPA answers at most one deviation; closed or cancelled CAPAs are refused."""
    deviations.link_capa(uow, deviation_id, body.capa_id)
    result = deviation_dict(uow.session, deviations.get_deviation(uow.session, deviation_id), detail=True)
    return result


@api.route(
    "GET",
    "/deviations/{deviation_id}/training-adequacy",
    summary="Training adequacy, computed now",
    tags=TAGS,
    roles=READERS,
)
def training_adequacy(deviation_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """For each person × document: trained at ``occurred_at`` on the version effective then? (as-of rule)."""
    return deviation_assessments.training_adequacy(
        uow.session, deviations.get_deviation(uow.session, deviation_id)
    )


@api.route(
    "POST",
    "/deviations/{deviation_id}/training-assessments",
    summary="Record the training adequacy assessment (e-signature)",
    tags=TAGS,
    body=AssessmentRecord,
    roles=APPROVERS,
    status=201,
)
def record_assessment(deviation_id: int, body: AssessmentRecord, uow: UnitOfWork) -> dict[str, Any]:
    """Freezes the computed result as an immutable snapshot bound to QA's signature."""
    assessment = deviation_assessments.record_assessment(
        uow,
        deviation_id,
        conclusion=body.conclusion,
        rationale=body.rationale,
        username=body.username,
        password=body.password,
        lockout_threshold=lockout(),
    )
    deviation = deviations.get_deviation(uow.session, deviation_id)
    result = assessment_dict(uow.session, deviation, assessment)
    return result


@api.route(
    "GET",
    "/deviations/{deviation_id}/training-assessments/{assessment_id}",
    summary="One recorded assessment",
    tags=TAGS,
    roles=READERS,
)
def get_assessment(deviation_id: int, assessment_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """The stored snapshot as signed, and whether the signature still verifies."""
    deviation = deviations.get_deviation(uow.session, deviation_id)
    return assessment_dict(
        uow.session, deviation, deviations.get_assessment(uow.session, deviation, assessment_id)
    )


@api.route(
    "POST",
    "/deviations/{deviation_id}/close",
    summary="Close (e-signature)",
    tags=TAGS,
    body=DeviationClose,
    roles=APPROVERS,
)
def close_deviation(deviation_id: int, body: DeviationClose, uow: UnitOfWork) -> dict[str, Any]:
    """Under investigation → closed; needs a recorded assessment, and a CAPA if training was inadequate."""
    deviation = deviations.close_deviation(
        uow,
        deviation_id,
        conclusion=body.conclusion,
        username=body.username,
        password=body.password,
        lockout_threshold=lockout(),
    )
    result = deviation_dict(uow.session, deviation, detail=True)
    return result
