"""Issue 14 corrections: separation of duties on change controls, CAPAs and deviations."""

from __future__ import annotations

from sqlalchemy import func, select

from qms.training.models import Assignment
from tests.qms.conftest import future


def test_change_control_refuses_an_approver_who_authored_an_affected_version(plant, make_user, api_token, db):
    """Issue 14 #8: a version's author cannot approve it through someone else's change control."""
    make_user("dual", "qa_author", "qa_approver", name="Dana Dual")
    plant.headers["dual"] = api_token("dual")
    doc = plant.document("SOP-100")
    plant.publish(doc["id"])
    version = plant.post(
        f"/documents/{doc['id']}/versions", "dual", {"label": "2.0", "revision": "major"}, expect=201
    ).json
    plant.call(
        "PUT", f"/document-versions/{version['id']}/file", "dual",
        data=b"%PDF-1.4\n2.0\n%%EOF\n", content_type="application/pdf", expect=200,
    )
    change = plant.post(
        "/change-controls",
        "author",
        {"title": "t", "impact": "i", "effective_at": future(14), "document_version_ids": [version["id"]]},
        expect=201,
    ).json
    plant.post(f"/change-controls/{change['id']}/submit", "author", expect=200)
    with db.read_sessions() as session:
        before = session.scalar(select(func.count()).select_from(Assignment))
    refused = plant.post(f"/change-controls/{change['id']}/approve", "dual", plant.sign("dual"), expect=403)
    assert refused.json["error"] == "self_approval_forbidden"
    assert "2.0" in refused.json["message"] and "SOP-100" in refused.json["message"]
    assert plant.get(f"/change-controls/{change['id']}")["status"] == "submitted"
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Assignment)) == before
    # Someone who authored nothing in it may approve.
    plant.post(f"/change-controls/{change['id']}/approve", "approver", plant.sign("approver"), expect=200)
