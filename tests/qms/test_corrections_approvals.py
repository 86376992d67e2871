"""Issue 14 corrections: separation of duties on change controls, CAPAs and deviations."""

from __future__ import annotations

from sqlalchemy import func, select

from qms.training.models import Assignment
from tests.qms.conftest import future, now
from tests.qms.test_capa import open_capa, sign_own, small_plant, to_investigation


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


def test_capa_effectiveness_check_waits_for_its_training(plant):
    """Issue 14 #6: no effectiveness check while a training action has open assignments."""
    p = small_plant(plant)
    capa = open_capa(plant)
    to_investigation(plant, capa["id"])
    plant.post(f"/capas/{capa['id']}/actions", "author", {
        "kind": "training", "description": "Retrain Ann", "due_at": future(15),
        "training_item_ids": [p["item"]], "person_ids": [plant.people["ann"]],
    }, expect=201)
    plant.post(f"/capas/{capa['id']}/approve", "approver", plant.sign("approver"), expect=200)
    refused = plant.post(f"/capas/{capa['id']}/effectiveness-check", "author", expect=409).json
    assert refused["error"] == "capa_training_incomplete" and refused["field"] == "training"
    assert [b["person"] for b in refused["details"]["open_assignments"]] == ["Ann"]
    assert plant.get(f"/capas/{capa['id']}")["status"] == "actions_in_progress"
    sign_own(plant, "ann", capa["id"])
    plant.post(f"/capas/{capa['id']}/effectiveness-check", "author", expect=200)


def test_the_opener_may_not_cancel_a_capa_nor_close_a_deviation(plant, make_user, api_token):
    """Issue 14 #6: separation of duties on CAPA cancellation and deviation closure."""
    make_user("dual", "qa_author", "qa_approver", name="Dana Dual")
    plant.headers["dual"] = api_token("dual")
    small_plant(plant)
    capa = plant.post("/capas", "dual", {
        "title": "t", "source": "audit", "owner_person_id": plant.people["supervisor"], "due_at": future(30),
    }, expect=201).json
    cancel = {**plant.sign("dual"), "reason": "duplicate"}
    refused = plant.post(f"/capas/{capa['id']}/cancel", "dual", cancel, expect=403).json
    assert refused["error"] == "self_approval_forbidden" and "cancel" in refused["message"]
    assert plant.get(f"/capas/{capa['id']}")["status"] == "open"
    plant.post(f"/capas/{capa['id']}/cancel", "approver", {**plant.sign("approver"), "reason": "dup"},
               expect=200)
    deviation = plant.post("/deviations", "dual", {
        "title": "Spill", "classification": "minor", "occurred_at": now().isoformat(),
        "person_ids": [], "document_ids": [],
    }, expect=201).json
    plant.post(f"/deviations/{deviation['id']}/investigation", "dual", expect=200)
    close = {**plant.sign("dual"), "conclusion": "cleaned"}
    refused = plant.post(f"/deviations/{deviation['id']}/close", "dual", close, expect=403).json
    assert refused["error"] == "self_approval_forbidden" and "close" in refused["message"]
    plant.post(f"/deviations/{deviation['id']}/close", "approver",
               {**plant.sign("approver"), "conclusion": "cleaned"}, expect=200)
