"""Documents and versions: lifecycle, e-signatures, controlled files, refusals."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from bridge.core import audit
from qms.documents.models import ControlledFile, DocumentVersion
from tests.qms.conftest import PDF, future


def test_lifecycle_draft_review_approved_effective_superseded(plant, db):
    doc = plant.document("SOP-100")
    v1 = plant.publish(doc["id"])
    assert v1["approval_signature_id"]
    v2 = plant.draft(doc["id"], "2.0", "minor", change_summary="typo")
    assert v2["retrain"] is False
    plant.post(f"/document-versions/{v2['id']}/submit", "author", {}, expect=200)
    plant.approve_soon(v2["id"])
    plant.post("/sweeps/effective", "admin", expect=200)
    versions = {v["label"]: v for v in plant.get(f"/documents/{doc['id']}")["versions"]}
    assert versions["1.0"]["status"] == "superseded" and versions["2.0"]["status"] == "effective"
    with db.read_sessions() as session:
        actions = [row.action for row in audit.history(session, "qms_document_version", v2["id"])]
    assert "document_version.in_review" in actions and "document_version.approved" in actions


def test_version_refusals_name_field_and_rule(plant, make_user, api_token):
    doc = plant.document("SOP-101")
    plant.post(
        f"/documents/{doc['id']}/versions",
        "author",
        {"label": "1.0", "revision": "major", "retrain": False},
        expect=400,
    )
    minor = plant.post(
        f"/documents/{doc['id']}/versions",
        "author",
        {"label": "1.0", "revision": "minor", "retrain": True},
        expect=400,
    ).json
    assert minor["field"] == "impact_rationale"
    bad_kind = plant.post(
        f"/documents/{doc['id']}/versions", "author", {"label": "1.0", "revision": "huge"}, expect=400
    ).json
    assert bad_kind["field"] == "revision"
    version = plant.post(
        f"/documents/{doc['id']}/versions", "author", {"label": "1.0", "revision": "major"}, expect=201
    ).json
    second = plant.post(
        f"/documents/{doc['id']}/versions", "author", {"label": "1.1", "revision": "minor"}, expect=409
    ).json
    assert second["error"] == "version_in_progress"
    # Review needs the controlled file; approval needs review first (§11.10(f)).
    nofile = plant.post(f"/document-versions/{version['id']}/submit", "author", {}, expect=400).json
    assert nofile["error"] == "file_required" and nofile["field"] == "file"
    early = plant.post(
        f"/document-versions/{version['id']}/approve",
        "approver",
        {**plant.sign("approver"), "effective_at": future()},
        expect=409,
    ).json
    assert early["error"] == "invalid_transition" and "in_review" in early["message"]
    plant.call(
        "PUT",
        f"/document-versions/{version['id']}/file",
        "author",
        data=PDF,
        content_type="application/pdf",
        expect=200,
    )
    past = plant.post(
        f"/document-versions/{version['id']}/submit",
        "author",
        {"effective_at": "2020-01-01T00:00:00Z"},
        expect=400,
    ).json
    assert past == {"error": "effective_date_in_past", "message": past["message"], "field": "effective_at"}
    naive = plant.post(
        f"/document-versions/{version['id']}/submit",
        "author",
        {"effective_at": "2030-01-01T00:00:00"},
        expect=400,
    ).json
    assert naive["field"] == "effective_at"
    plant.post(f"/document-versions/{version['id']}/submit", "author", {}, expect=200)
    plant.call(
        "PUT",
        f"/document-versions/{version['id']}/file",
        "author",
        data=b"changed",
        content_type="application/pdf",
        expect=409,
    )
    # Only approvers approve; the author may not approve their own version (policy).
    assert (
        plant.post(
            f"/document-versions/{version['id']}/approve",
            "author",
            {**plant.sign("author"), "effective_at": future()},
        ).status_code
        == 403
    )
    make_user("author2", "qa_author", "qa_approver")
    plant.headers["author2"] = api_token("author2")
    own = plant.post(f"/documents/{doc['id']}/versions", "author2", {"label": "x", "revision": "major"}).json
    assert own["error"] == "version_in_progress"
    past_approval = plant.post(
        f"/document-versions/{version['id']}/approve",
        "approver",
        {**plant.sign("approver"), "effective_at": "2020-01-01T00:00:00Z"},
        expect=400,
    ).json
    assert past_approval["error"] == "effective_date_in_past"
    wrong = plant.post(
        f"/document-versions/{version['id']}/approve",
        "approver",
        {"username": "approver", "password": "Wrong-Password-9", "effective_at": future()},
        expect=401,
    ).json
    assert wrong["error"] == "wrong_password"
    other = plant.post(
        f"/document-versions/{version['id']}/approve",
        "approver",
        {"username": "author", "password": "x", "effective_at": future()},
        expect=403,
    ).json
    assert other["error"] == "not_signer"
    assert plant.get(f"/document-versions/{version['id']}")["status"] == "in_review"


def test_self_approval_refused_by_policy(plant, make_user, api_token):
    make_user("both", "qa_author", "qa_approver")
    plant.headers["both"] = api_token("both")
    doc = plant.post("/documents", "both", {"code": "SOP-102", "title": "t"}, expect=201).json
    version = plant.post(
        f"/documents/{doc['id']}/versions", "both", {"label": "1.0", "revision": "major"}, expect=201
    ).json
    plant.call(
        "PUT",
        f"/document-versions/{version['id']}/file",
        "both",
        data=PDF,
        content_type="application/pdf",
        expect=200,
    )
    plant.post(f"/document-versions/{version['id']}/submit", "both", {}, expect=200)
    refused = plant.post(
        f"/document-versions/{version['id']}/approve",
        "both",
        {**plant.sign("both"), "effective_at": future()},
        expect=403,
    ).json
    assert refused["error"] == "self_approval_forbidden" and refused["field"] == "approver"


def test_reject_returns_to_draft_and_obsolete_cancels(plant, db):
    prod = plant.unit("departments", "PROD")
    op = plant.unit("job-functions", "OP")
    doc = plant.document("SOP-103")
    plant.post(
        "/requirements",
        "author",
        {"scope": "job_function", "scope_id": op, "training_item_id": doc["training_item_id"]},
        expect=201,
    )
    ann = plant.hire("Ann", prod, [op], person_id=plant.people["ann"])["person"]["id"]
    version = plant.draft(doc["id"], "1.0")
    plant.post(f"/document-versions/{version['id']}/submit", "author", {}, expect=200)
    no_comment = plant.post(
        f"/document-versions/{version['id']}/reject",
        "approver",
        {**plant.sign("approver"), "comment": ""},
        expect=400,
    ).json
    assert no_comment["field"] == "comment"
    plant.post(
        f"/document-versions/{version['id']}/reject",
        "approver",
        {**plant.sign("approver"), "comment": "section 4 unclear"},
        expect=200,
    )
    assert plant.get(f"/document-versions/{version['id']}")["status"] == "draft"
    plant.post(f"/document-versions/{version['id']}/submit", "author", {}, expect=200)
    plant.approve_soon(version["id"])
    plant.post("/sweeps/effective", "admin", expect=200)
    obsolete = plant.post(
        f"/document-versions/{version['id']}/obsolete",
        "approver",
        {**plant.sign("approver"), "reason": "process retired"},
        expect=200,
    ).json
    assert obsolete["status"] == "obsolete"
    # Nothing left to train on: the assignment is cancelled and the matrix cell retired.
    assert [a["status"] for a in plant.get("/me/assignments", "ann")] == ["cancelled"]
    assert plant.get("/requirements") == []
    assert plant.get(f"/people/{ann}/transcript")["requirements"] == []
    plant.post(
        f"/document-versions/{version['id']}/obsolete",
        "approver",
        {**plant.sign("approver"), "reason": "again"},
        expect=409,
    )


def test_controlled_file_stored_once_and_served_only_to_readers(plant, db):
    prod = plant.unit("departments", "PROD")
    op = plant.unit("job-functions", "OP")
    doc = plant.document("SOP-104")
    other = plant.document("SOP-105")
    plant.post(
        "/requirements",
        "author",
        {"scope": "job_function", "scope_id": op, "training_item_id": doc["training_item_id"]},
        expect=201,
    )
    v1 = plant.draft(doc["id"], "1.0")
    content = PDF + b"1.0"
    # The same bytes on another document are stored once.
    ov = plant.post(
        f"/documents/{other['id']}/versions", "author", {"label": "1.0", "revision": "major"}, expect=201
    ).json
    uploaded = plant.client.put(
        f"/api/v1/document-versions/{ov['id']}/file",
        headers=plant.headers["author"],
        data={"file": (__import__("io").BytesIO(content), "sop.pdf")},
        content_type="multipart/form-data",
    )
    assert (
        uploaded.status_code == 200 and uploaded.json["file"]["sha256"] == hashlib.sha256(content).hexdigest()
    )
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(ControlledFile)) == 1
    plant.post(f"/document-versions/{v1['id']}/submit", "author", {}, expect=200)
    plant.approve_soon(v1["id"])
    plant.post("/sweeps/effective", "admin", expect=200)
    plant.hire("Ann", prod, [op], person_id=plant.people["ann"])
    served = plant.client.get(f"/api/v1/document-versions/{v1['id']}/file", headers=plant.headers["ann"])
    assert served.status_code == 200 and served.data == content
    assert served.headers["X-Content-SHA256"] == hashlib.sha256(content).hexdigest()
    assert "no-store" in served.headers["Cache-Control"]
    refused = plant.client.get(f"/api/v1/document-versions/{v1['id']}/file", headers=plant.headers["bob"])
    assert refused.status_code == 403 and refused.json["error"] == "not_a_reader"
    assert (
        plant.client.get(
            f"/api/v1/document-versions/{v1['id']}/file", headers=plant.headers["auditor"]
        ).status_code
        == 200
    )
    # Read-only: no way to change the file of an effective version.
    assert (
        plant.client.put(
            f"/api/v1/document-versions/{v1['id']}/file",
            headers=plant.headers["author"],
            data=b"x",
            content_type="application/pdf",
        ).status_code
        == 409
    )
    with db.read_sessions() as session:
        stored = session.get(DocumentVersion, v1["id"])
        assert stored.file.sha256 == hashlib.sha256(content).hexdigest()


def test_a_controlled_file_is_served_as_a_sandboxed_download(plant):
    """An uploaded HTML page must not run on the app's origin (stored XSS), whatever type the
    uploader claimed; a non-Latin-1 name still downloads (RFC 6266 filename*)."""
    doc = plant.document("SOP-150")
    version = plant.draft(doc["id"], "1.0")
    stored = plant.client.put(f"/api/v1/document-versions/{version['id']}/file",
                              data=b"<html><script>alert(document.cookie)</script></html>",
                              content_type="text/html",
                              headers={**plant.headers["author"], "X-File-Name": "Réinigung-清洁.html"})
    assert stored.status_code == 200, stored.get_data(as_text=True)
    served = plant.client.get(f"/api/v1/document-versions/{version['id']}/file",
                              headers=plant.headers["author"])
    assert served.status_code == 200
    assert "text/html" not in served.headers["Content-Type"]
    assert served.headers["Content-Disposition"].startswith("attachment")
    assert "filename*=UTF-8''" in served.headers["Content-Disposition"]
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served.headers["Content-Security-Policy"]
