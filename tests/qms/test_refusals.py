"""The remaining refusals: each a 4xx naming the field and the rule, and nothing written."""

from __future__ import annotations

from sqlalchemy import func, select

from qms.documents.models import Document, TrainingItem
from qms.training.models import Assignment
from tests.qms.conftest import PDF, future


def count(db, model):
    with db.read_sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_organisation_refusals(plant):
    prod = plant.unit("departments", "PROD")
    op = plant.unit("job-functions", "OP")
    nameless = plant.post(
        "/people/hire", "supervisor", {"department_id": prod, "job_function_ids": [op]}, expect=400
    ).json
    assert nameless["field"] == "display_name"
    pid = plant.hire("Ann", prod, [op])["person"]["id"]
    same = plant.post(
        f"/people/{pid}/role-change", "supervisor", {"job_function_ids": [op], "reason": "x"}, expect=400
    ).json
    assert same["error"] == "no_change" and same["field"] == "job_function_ids"
    unknown = plant.post(
        f"/people/{pid}/role-change", "supervisor", {"job_function_ids": [999], "reason": "x"}, expect=404
    ).json
    assert unknown["field"] == "job_function_id"
    assert (
        plant.post("/people/999/leave", "supervisor", {"reason": "x"}, expect=404).json["field"]
        == "person_id"
    )
    assert plant.post(f"/people/{pid}/terminate", "ann", {"reason": "x"}).status_code == 403


def test_document_and_item_refusals(plant, db):
    doc = plant.document("SOP-1")
    dup = plant.post("/documents", "author", {"code": "SOP-1", "title": "again"}, expect=409).json
    assert dup["error"] == "duplicate_code" and count(db, Document) == 1
    version = plant.post(
        f"/documents/{doc['id']}/versions", "author", {"label": "1.0", "revision": "major"}, expect=201
    ).json
    empty = plant.call(
        "PUT",
        f"/document-versions/{version['id']}/file",
        "author",
        data=b"",
        content_type="application/pdf",
        expect=400,
    ).json
    assert empty["field"] == "file"
    plant.call(
        "PUT",
        f"/document-versions/{version['id']}/file",
        "author",
        data=PDF,
        content_type="application/pdf",
        expect=200,
    )
    plant.post(f"/document-versions/{version['id']}/submit", "author", {}, expect=200)
    locked = plant.call(
        "PATCH", f"/document-versions/{version['id']}", "author", json={"change_summary": "late"}, expect=409
    ).json
    assert locked["field"] == "status"
    no_reason = plant.post(
        f"/document-versions/{version['id']}/obsolete",
        "approver",
        {**plant.sign("approver"), "reason": ""},
        expect=400,
    ).json
    assert no_reason["field"] == "reason"
    item_dup = plant.post(
        "/training-items", "author", {"code": "SOP-1", "kind": "course", "title": "x"}, expect=409
    ).json
    assert item_dup["error"] == "duplicate_code"
    score = plant.post(
        "/training-items",
        "author",
        {"code": "C-1", "kind": "course", "title": "x", "pass_score": 80},
        expect=400,
    ).json
    assert score["field"] == "pass_score"
    kind = plant.post(
        "/training-items", "author", {"code": "C-1", "kind": "read_and_understand", "title": "x"}, expect=400
    ).json
    assert kind["field"] == "kind" and count(db, TrainingItem) == 1
    via_item = plant.post(
        f"/training-items/{doc['training_item_id']}/versions", "author", {"label": "9"}, expect=400
    ).json
    assert via_item["error"] == "use_document_versions"
    course = plant.post(
        "/training-items", "author", {"code": "C-1", "kind": "course", "title": "x"}, expect=201
    ).json
    draft = plant.post(f"/training-items/{course['id']}/versions", "author", {"label": "1"}, expect=201).json
    label = plant.post(f"/training-items/{course['id']}/versions", "author", {"label": "1"}, expect=409).json
    assert label["error"] == "version_in_progress"
    not_assignable = plant.post(
        "/assignments",
        "trainer",
        {"person_ids": [plant.people["ann"]], "item_version_id": draft["id"], "due_at": future()},
        expect=409,
    ).json
    assert not_assignable["error"] == "version_not_assignable" and count(db, Assignment) == 0


def test_trainer_items_cannot_be_self_signed(plant):
    session = plant.post(
        "/training-items", "author", {"code": "ILT-1", "kind": "instructor_led", "title": "x"}, expect=201
    ).json
    version = plant.post(
        f"/training-items/{session['id']}/versions", "author", {"label": "1"}, expect=201
    ).json
    plant.post(
        f"/training-item-versions/{version['id']}/approve",
        "approver",
        {**plant.sign("approver"), "effective_at": future()},
        expect=200,
    )
    assigned = plant.post(
        "/assignments",
        "trainer",
        {"person_ids": [plant.people["ann"]], "item_version_id": version["id"], "due_at": future()},
        expect=201,
    ).json["assignment_ids"]
    again = plant.post(
        "/assignments",
        "trainer",
        {"person_ids": [plant.people["ann"]], "item_version_id": version["id"], "due_at": future()},
        expect=201,
    ).json
    assert again["assignment_ids"] == []  # already holds an open assignment on this version
    refused = plant.post(f"/assignments/{assigned[0]}/sign", "ann", plant.sign("ann"), expect=409).json
    assert refused["error"] == "trainer_signoff_required"


def test_sweep_endpoint_refusals(plant):
    assert plant.post("/sweeps/effective", "author").status_code == 403
    missing = plant.post("/sweeps/cleanup", "admin", expect=404).json
    assert missing["field"] == "name"
    assert plant.post("/sweeps/overdue", "admin", expect=200).json == {
        "sweep": "overdue",
        "outcome": {"overdue": 0},
    }
