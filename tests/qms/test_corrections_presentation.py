"""Issue 14 #5: "read and understood" is refused unless the signer opened the controlled file;
the presentation (who, which version, when) is audited and shown in the completion's evidence.
"""

from __future__ import annotations

from sqlalchemy import func, select

from bridge.core import audit
from qms.documents.models import DocumentPresentation
from qms.training.models import Completion


def test_read_and_understood_needs_the_document_presented(plant, db):
    prod = plant.unit("departments", "PROD")
    op = plant.unit("job-functions", "OP")
    sop = plant.document("SOP-001")
    plant.post("/requirements", "author",
               {"scope": "job_function", "scope_id": op, "training_item_id": sop["training_item_id"]},
               expect=201)
    published = plant.publish(sop["id"])
    plant.hire("Ann", prod, [op], person_id=plant.people["ann"])
    (assignment,) = plant.get("/me/assignments", "ann")
    refused = plant.post(f"/assignments/{assignment['id']}/sign", "ann", plant.sign("ann"), expect=409,
                         present=False).json
    assert refused["error"] == "document_not_presented" and "SOP-001 1.0" in refused["message"]
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Completion)) == 0
    # Someone else opening it does not count for Ann.
    plant.get(f"/document-versions/{published['id']}/file", "author")
    plant.post(f"/assignments/{assignment['id']}/sign", "ann", plant.sign("ann"), expect=409, present=False)
    download = plant.call("GET", assignment["content"]["file_url"].removeprefix("/api/v1"), "ann", expect=200)
    assert download.data.startswith(b"%PDF")
    done = plant.post(f"/assignments/{assignment['id']}/sign", "ann", plant.sign("ann"), expect=201,
                      present=False).json
    completion = plant.get(f"/completions/{done['id']}", "ann")
    presented = completion["evidence"]["presented"]
    assert presented["channel"] == "rest" and presented["document_version_id"] == published["id"]
    assert presented["presented_at"] <= completion["completed_at"]
    with db.read_sessions() as session:
        shown = session.scalars(
            select(DocumentPresentation).where(DocumentPresentation.person_id == plant.people["ann"])
        ).all()
        assert len(shown) == 1 and shown[0].file_sha256
        trail = audit.history(session, "qms_document_presentation", shown[0].id)
        assert trail[0].action == "create" and trail[0].actor_username == "ann"
