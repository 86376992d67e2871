"""Training adequacy of a deviation: was each person involved trained, at the moment it
occurred, on the version of each document then in force? Computed by the as-of rule and
recorded as signed, immutable assessments.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core import audit, signatures
from bridge.core.errors import ValidationFailed
from bridge.core.people import Person
from bridge.core.uow import UnitOfWork
from qms.deviations import services as deviations
from qms.deviations.models import ADEQUACY_CONCLUSIONS, Deviation, TrainingAdequacyAssessment
from qms.documents import services as documents
from qms.documents.models import Document, DocumentVersion, TrainingItem
from qms.roles import APPROVERS
from qms.training import asof


def training_adequacy(session: Session, deviation: Deviation) -> dict[str, Any]:
    """For each person × document involved: trained at ``occurred_at`` on the version then effective?

    Every answer comes from :func:`qms.training.asof.trained_on_documents_as_of` (the as-of rule,
    for every pair at once); this adds the names, the document version label and the
    completion's version id for the report.
    """
    at = deviation.occurred_at
    person_ids = [p.person_id for p in deviation.people]
    document_ids = [d.document_id for d in deviation.documents]
    names = dict(
        session.execute(select(Person.id, Person.display_name).where(Person.id.in_(person_ids or [0]))).all()
    )
    documents_found = {
        doc_id: (code, item_id)
        for doc_id, code, item_id in session.execute(
            select(Document.id, Document.code, TrainingItem.id)
            .join(TrainingItem, TrainingItem.document_id == Document.id)
            .where(Document.id.in_(document_ids or [0]))
        )
    }
    for document_id in document_ids:
        if document_id not in documents_found:  # absent, or tampered with: the services say which
            documents.item_of_document(session, documents.get_document(session, document_id).id)
    labels: dict[int, int] = dict(
        session.execute(
            select(DocumentVersion.item_version_id, DocumentVersion.id).where(
                DocumentVersion.document_id.in_(document_ids or [0]),
                DocumentVersion.item_version_id.is_not(None),
            )
        ).all()
    )
    answers = asof.trained_on_documents_as_of(
        session, person_ids, [item for _code, item in documents_found.values()], at
    )
    rows = []
    for document_id in document_ids:
        code, item_id = documents_found[document_id]
        for person_id in person_ids:
            answer = answers[(person_id, item_id)]
            in_force = answer["version_in_force"]
            completion = None
            if answer["completion_id"] is not None:
                completion = {
                    "id": answer["completion_id"],
                    "item_version_id": answer["completed_version_id"],
                    "version": answer["completed_version"],
                    "completed_at": answer["completed_at"],
                    "method": answer["method"],
                }
            rows.append(
                {
                    "person_id": person_id,
                    "person": names.get(person_id),
                    "document_id": document_id,
                    "document": code,
                    "training_item_id": item_id,
                    "version_in_force": (
                        {
                            "item_version_id": in_force["id"],
                            "label": in_force["label"],
                            "document_version_id": labels.get(in_force["id"]),
                        }
                        if in_force
                        else None
                    ),
                    "in_force": answer["in_force"],
                    "trained": answer["trained"],
                    "completion": completion,
                    "explanation": answer["explanation"],
                }
            )
    trained = sum(1 for r in rows if r["trained"])
    # A document with no version in force when the deviation occurred required no training then.
    not_in_force = sum(1 for r in rows if not r["in_force"])
    return {
        "deviation": {"id": deviation.id, "number": deviation.number, "title": deviation.title},
        "occurred_at": at,
        "pairs": len(rows),
        "trained": trained,
        "not_in_force": not_in_force,
        "untrained": len(rows) - trained - not_in_force,
        "adequate": bool(rows) and trained + not_in_force == len(rows),
        "rows": rows,
    }


def assessment_content(assessment: TrainingAdequacyAssessment, deviation_number: str) -> dict[str, Any]:
    """What the QA signature on an assessment binds to (the stored snapshot and the conclusion)."""
    return {
        "deviation": deviation_number,
        "as_of": assessment.as_of,
        "conclusion": assessment.conclusion,
        "rationale": assessment.rationale,
        "result": assessment.result,
    }


def record_assessment(
    uow: UnitOfWork,
    deviation_id: int,
    *,
    conclusion: str,
    rationale: str,
    username: str,
    password: str,
    lockout_threshold: int,
) -> TrainingAdequacyAssessment:
    """QA records the training adequacy assessment: the computed result, frozen and signed.

    Raises:
        InvalidTransition: The deviation is closed.
        ValidationFailed: Nobody or no document is involved; the conclusion says
            ``adequate`` while someone was not trained; no rationale.
    """
    uow.actor.require(*APPROVERS, action="recording a training adequacy assessment")
    session = uow.session
    deviation = deviations.get_deviation(session, deviation_id, lock=True)
    deviations.require_not_closed(deviation, "recording a training adequacy assessment")
    if conclusion not in ADEQUACY_CONCLUSIONS:
        raise ValidationFailed(
            f"conclusion must be one of {', '.join(ADEQUACY_CONCLUSIONS)}", field="conclusion"
        )
    if not rationale.strip():
        raise ValidationFailed("give the rationale of the conclusion", field="rationale")
    result = training_adequacy(session, deviation)
    if not result["pairs"]:
        raise ValidationFailed(
            f"{deviation.number} names no person or no document: nothing to assess",
            field="person_ids",
            code="nothing_to_assess",
        )
    if conclusion == "adequate" and not result["adequate"]:
        raise ValidationFailed(
            f"{result['untrained']} person × document pair(s) were not trained when the deviation occurred: "
            "the training cannot be concluded adequate",
            field="conclusion",
            code="conclusion_contradicts_result",
            details={"untrained": [r for r in result["rows"] if r["in_force"] and not r["trained"]]},
        )
    snapshot = audit.jsonable(result)
    now = uow.clock.now()
    assessment = TrainingAdequacyAssessment(
        deviation_id=deviation.id,
        assessed_at=now,
        as_of=deviation.occurred_at,
        pairs=result["pairs"],
        trained=result["trained"],
        conclusion=conclusion,
        rationale=rationale.strip(),
        result=snapshot,
        content_hash="",
        assessed_by_user_id=uow.actor.user_id,
    )
    content = assessment_content(assessment, deviation.number)
    signature = signatures.sign(
        uow,
        username=username,
        password=password,
        meaning="approved",
        record_type="qms_deviation",
        record_id=deviation.id,
        content=content,
        lockout_threshold=lockout_threshold,
        comment=f"training adequacy: {conclusion}",
    )
    assessment.signature_id = signature.id
    assessment.content_hash = signature.content_hash
    session.add(assessment)
    session.flush()
    return assessment


def verify_assessment(session: Session, deviation: Deviation, assessment: TrainingAdequacyAssessment) -> bool:
    """Whether the stored snapshot still hashes to what QA signed."""
    return signatures.verify(
        session, assessment.signature_id, assessment_content(assessment, deviation.number)
    ).valid
