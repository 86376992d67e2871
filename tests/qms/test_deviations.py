"""Deviations through the REST API: occurred-at in the past, people and documents involved, the
training adequacy assessment by the as-of rule (recomputed, then recorded as a signed immutable
snapshot), linkage to CAPA, closure with e-signature, and every refusal.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from bridge.core import audit
from qms.deviations.models import Deviation, TrainingAdequacyAssessment
from tests.qms.conftest import future, now


def trained_history(plant) -> dict[str, Any]:
    """SOP-DEV 1.0 effective; Ann signs it, then (moment ``a``) Bob signs it; 2.0 (major) becomes
    effective and nobody has signed it at moment ``b``.
    """
    prod = plant.unit("departments", "PROD")
    op = plant.unit("job-functions", "OP")
    doc = plant.document("SOP-DEV")
    plant.post(
        "/requirements",
        "author",
        {"scope": "job_function", "scope_id": op, "training_item_id": doc["training_item_id"]},
        expect=201,
    )
    v1 = plant.publish(doc["id"])
    plant.hire("Ann", prod, [op], person_id=plant.people["ann"])
    plant.hire("Bob", prod, [op], person_id=plant.people["bob"])
    ann = plant.get("/me/assignments", "ann")[0]
    ann_done = plant.post(f"/assignments/{ann['id']}/sign", "ann", plant.sign("ann"), expect=201).json
    moment_a = now()
    bob = plant.get("/me/assignments", "bob")[0]
    plant.post(f"/assignments/{bob['id']}/sign", "bob", plant.sign("bob"), expect=201)
    v2 = plant.publish(doc["id"], "2.0", "major")
    moment_b = now()
    return {
        "prod": prod,
        "op": op,
        "doc": doc,
        "v1": v1,
        "v2": v2,
        "a": moment_a,
        "b": moment_b,
        "ann_completion": ann_done,
    }


def record(plant, at: dt.datetime | str, people: list[str], docs: list[int], **extra: Any) -> dict[str, Any]:
    body = {
        "title": "Operator skipped line clearance",
        "classification": "major",
        "occurred_at": at if isinstance(at, str) else at.isoformat(),
        "person_ids": [plant.people[p] for p in people],
        "document_ids": docs,
        **extra,
    }
    return plant.post("/deviations", "author", body, expect=201).json


def test_training_adequacy_answers_by_the_version_effective_at_that_moment(plant, db):
    h = trained_history(plant)
    doc_id = h["doc"]["id"]
    first = record(plant, h["a"], ["ann", "bob"], [doc_id])
    assert first["number"].startswith("DEV-") and first["status"] == "open"
    result = plant.get(f"/deviations/{first['id']}/training-adequacy")
    assert (result["pairs"], result["trained"], result["adequate"]) == (2, 1, False)
    rows = {r["person"]: r for r in result["rows"]}
    assert rows["Ann"]["trained"] is True
    assert rows["Ann"]["version_in_force"]["label"] == "1.0"
    assert rows["Ann"]["version_in_force"]["document_version_id"] == h["v1"]["id"]
    completion = rows["Ann"]["completion"]
    assert completion["id"] == h["ann_completion"]["id"] and completion["version"] == "1.0"
    assert completion["completed_at"] == h["ann_completion"]["completed_at"]
    # Bob signed after the deviation: he was not trained at that moment.
    assert rows["Bob"]["trained"] is False and rows["Bob"]["completion"] is None
    assert "no completion on version 1.0" in rows["Bob"]["explanation"]
    # After the major revision, a completion on 1.0 no longer counts.
    second = record(plant, h["b"], ["ann", "bob"], [doc_id])
    later = plant.get(f"/deviations/{second['id']}/training-adequacy")
    assert later["trained"] == 0
    assert {r["version_in_force"]["label"] for r in later["rows"]} == {"2.0"}
    # Before any version was in force.
    ancient = record(plant, "2020-01-01T08:00:00Z", ["ann"], [doc_id])
    before = plant.get(f"/deviations/{ancient['id']}/training-adequacy")["rows"][0]
    assert (
        before["version_in_force"] is None
        and before["explanation"] == "no version was in force at that moment"
    )


def test_assessment_is_signed_immutable_and_closure_needs_it_and_a_capa(plant, db):
    h = trained_history(plant)
    dev = record(plant, h["a"], ["ann", "bob"], [h["doc"]["id"]])
    did = dev["id"]
    # Closure refused out of order and without an assessment.
    close = {**plant.sign("approver"), "conclusion": "Root cause: Bob not yet trained"}
    plant.post(f"/deviations/{did}/close", "approver", close, expect=409)
    plant.post(f"/deviations/{did}/investigation", "author", expect=200)
    plant.post(f"/deviations/{did}/investigation", "author", expect=409)
    missing = plant.post(f"/deviations/{did}/close", "approver", close, expect=409).json
    assert (missing["error"], missing["field"]) == ("assessment_required", "training_assessment")
    # QA cannot conclude "adequate" against the computed result.
    body = {**plant.sign("approver"), "conclusion": "adequate", "rationale": "all fine"}
    contradicts = plant.post(f"/deviations/{did}/training-assessments", "approver", body, expect=400).json
    assert (contradicts["error"], contradicts["field"]) == ("conclusion_contradicts_result", "conclusion")
    assert [r["person"] for r in contradicts["details"]["untrained"]] == ["Bob"]
    plant.post(
        f"/deviations/{did}/training-assessments",
        "author",
        {**plant.sign("author"), "conclusion": "inadequate", "rationale": "x"},
        expect=403,
    )
    wrong = {**body, "conclusion": "inadequate", "password": "not-the-password"}
    plant.post(f"/deviations/{did}/training-assessments", "approver", wrong, expect=401)
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(TrainingAdequacyAssessment)) == 0
    recorded = plant.post(
        f"/deviations/{did}/training-assessments",
        "approver",
        {**body, "conclusion": "inadequate", "rationale": "Bob operated before training"},
        expect=201,
    ).json
    assert recorded["signature_valid"] is True and "I approve this record" in recorded["signature"]
    assert (recorded["pairs"], recorded["trained"]) == (2, 1)
    # Recomputable on demand; the stored snapshot does not move when the record changes.
    plant.call(
        "PUT",
        f"/deviations/{did}/involved",
        "author",
        json={
            "person_ids": [plant.people["ann"]],
            "document_ids": [h["doc"]["id"]],
            "reason": "Bob was not on shift",
        },
        expect=200,
    )
    assert plant.get(f"/deviations/{did}/training-adequacy")["pairs"] == 1
    stored = plant.get(f"/deviations/{did}/training-assessments/{recorded['id']}")
    assert stored["pairs"] == 2 and len(stored["result"]["rows"]) == 2 and stored["signature_valid"] is True
    plant.get(f"/deviations/{did}/training-assessments/99999", expect=404)
    with db.read_sessions() as session:
        history = audit.history(session, "qms_deviation_person", 2)
    assert history[-1].action == "delete" and history[-1].reason == "Bob was not on shift"
    with db.write_sessions() as session:
        row = session.get(TrainingAdequacyAssessment, recorded["id"])
        row.conclusion = "adequate"
        with pytest.raises(RuntimeError, match="immutable"):
            session.flush()
        session.rollback()
    # Inadequate training: closure needs a CAPA.
    no_capa = plant.post(f"/deviations/{did}/close", "approver", close, expect=409).json
    assert (no_capa["error"], no_capa["field"]) == ("capa_required", "capa_id")
    capa = plant.post(
        "/capas",
        "author",
        {
            "title": "Train before shift",
            "source": "deviation",
            "deviation_id": did,
            "owner_person_id": plant.people["supervisor"],
            "due_at": future(30),
        },
        expect=201,
    ).json
    detail = plant.get(f"/deviations/{did}")
    assert [c["number"] for c in detail["capas"]] == [capa["number"]]
    assert detail["assessments"][0]["conclusion"] == "inadequate"
    plant.post(f"/deviations/{did}/close", "author", {**plant.sign("author"), "conclusion": "x"}, expect=403)
    closed = plant.post(f"/deviations/{did}/close", "approver", close, expect=200).json
    assert closed["status"] == "closed" and closed["closure_signature_id"]
    assert [s["meaning"] for s in closed["signatures"]] == ["approved", "closed"]
    # Nothing changes a closed deviation (§11.10(f)).
    plant.call(
        "PUT",
        f"/deviations/{did}/involved",
        "author",
        json={"person_ids": [], "document_ids": [], "reason": "late edit"},
        expect=409,
    )
    plant.post(
        f"/deviations/{did}/training-assessments",
        "approver",
        {**body, "conclusion": "inadequate"},
        expect=409,
    )
    plant.post(f"/deviations/{did}/close", "approver", close, expect=409)
    late_capa = plant.post(
        "/capas",
        "author",
        {
            "title": "t",
            "source": "deviation",
            "deviation_id": did,
            "owner_person_id": plant.people["supervisor"],
            "due_at": future(30),
        },
        expect=409,
    ).json
    assert late_capa["error"] == "deviation_closed"
    with db.read_sessions() as session:
        actions = [row.action for row in audit.history(session, "qms_deviation", did)]
    assert "deviation.under_investigation" in actions and "deviation.closed" in actions


def test_deviation_refusals_name_field_and_rule(plant, db):
    plant.unit("departments", "PROD")
    doc = plant.document("SOP-REF")
    base = {"title": "t", "classification": "minor", "occurred_at": "2026-01-01T00:00:00Z"}
    assert plant.post("/deviations", "ann", base, expect=403).json["error"] == "role_required"
    assert plant.post("/deviations", "auditor", base, expect=403).json["error"] == "role_required"
    ahead = plant.post("/deviations", "author", {**base, "occurred_at": future(1)}, expect=400).json
    assert (ahead["error"], ahead["field"]) == ("time_in_future", "occurred_at")
    naive = plant.post(
        "/deviations", "author", {**base, "occurred_at": "2026-01-01T00:00:00"}, expect=400
    ).json
    assert naive["field"] == "occurred_at"
    found_later = plant.post("/deviations", "author", {**base, "discovered_at": future(1)}, expect=400).json
    assert found_later["field"] == "discovered_at"
    found_before = plant.post(
        "/deviations", "author", {**base, "discovered_at": "2025-12-31T00:00:00Z"}, expect=400
    ).json
    assert (found_before["error"], found_before["field"]) == ("discovered_before_occurred", "discovered_at")
    bad_class = plant.post("/deviations", "author", {**base, "classification": "huge"}, expect=400).json
    assert bad_class["field"] == "classification"
    nobody = plant.post("/deviations", "author", {**base, "person_ids": [99999]}, expect=404).json
    assert nobody["field"] == "person_ids"
    twice = plant.post(
        "/deviations", "author", {**base, "document_ids": [doc["id"], doc["id"]]}, expect=400
    ).json
    assert twice["field"] == "document_ids"
    nodoc = plant.post("/deviations", "author", {**base, "document_ids": [99999]}, expect=404).json
    assert nodoc["field"] == "document_ids"
    plant.post("/deviations", "author", [1, 2], expect=400)
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Deviation)) == 0
    # Nothing to assess: no person involved.
    empty = plant.post("/deviations", "author", {**base, "document_ids": [doc["id"]]}, expect=201).json
    nothing = plant.post(
        f"/deviations/{empty['id']}/training-assessments",
        "approver",
        {**plant.sign("approver"), "conclusion": "inadequate", "rationale": "r"},
        expect=400,
    ).json
    assert nothing["error"] == "nothing_to_assess"
    plant.call(
        "PUT",
        f"/deviations/{empty['id']}/involved",
        "author",
        json={"person_ids": [], "document_ids": [], "reason": " "},
        expect=400,
    )
    plant.get("/deviations/99999", expect=404)
    plant.get(f"/deviations/{empty['id']}", "ann", expect=403)
    assert plant.get(f"/deviations/{empty['id']}", "auditor")["number"] == empty["number"]
    assert [d["id"] for d in plant.get("/deviations?status=open")] == [empty["id"]]
    # Link an existing CAPA: once, open ones only.
    capa = plant.post(
        "/capas",
        "author",
        {"title": "c", "source": "audit", "due_at": future(9), "owner_person_id": plant.people["supervisor"]},
        expect=201,
    ).json
    linked = plant.post(
        f"/deviations/{empty['id']}/capas", "author", {"capa_id": capa["id"]}, expect=200
    ).json
    assert [c["id"] for c in linked["capas"]] == [capa["id"]]
    again = plant.post(f"/deviations/{empty['id']}/capas", "author", {"capa_id": capa["id"]}, expect=409).json
    assert again["error"] == "already_linked"
    plant.post(f"/deviations/{empty['id']}/capas", "author", {"capa_id": 99999}, expect=404)
    other = plant.post("/deviations", "author", base, expect=201).json
    taken = plant.post(f"/deviations/{other['id']}/capas", "author", {"capa_id": capa["id"]}, expect=409).json
    assert (taken["error"], taken["field"]) == ("already_linked", "capa_id")
    dropped = plant.post(
        "/capas",
        "author",
        {"title": "d", "source": "audit", "due_at": future(9), "owner_person_id": plant.people["supervisor"]},
        expect=201,
    ).json
    plant.post(
        f"/capas/{dropped['id']}/cancel", "approver", {**plant.sign("approver"), "reason": "dup"}, expect=200
    )
    cancelled = plant.post(
        f"/deviations/{other['id']}/capas", "author", {"capa_id": dropped["id"]}, expect=409
    ).json
    assert cancelled["error"] == "capa_not_open"
    plant.post(f"/deviations/{other['id']}/capas", "ann", {"capa_id": dropped["id"]}, expect=403)
    plant.get("/deviations?status=lost", expect=400)
    # A deviation with nobody involved closes without an assessment.
    plant.post(f"/deviations/{empty['id']}/investigation", "author", expect=200)
    plant.post(
        f"/deviations/{empty['id']}/close",
        "approver",
        {**plant.sign("approver"), "conclusion": " "},
        expect=400,
    )
    plant.post(
        f"/deviations/{empty['id']}/close",
        "approver",
        {**plant.sign("approver"), "conclusion": "No training impact"},
        expect=200,
    )
    plant.post(f"/deviations/{empty['id']}/capas", "author", {"capa_id": capa["id"]}, expect=409)


def test_openapi_describes_every_deviation_endpoint(plant):
    spec = plant.get("/openapi.json")
    for path, method in [
        ("/deviations", "get"),
        ("/deviations", "post"),
        ("/deviations/{deviation_id}", "get"),
        ("/deviations/{deviation_id}/involved", "put"),
        ("/deviations/{deviation_id}/investigation", "post"),
        ("/deviations/{deviation_id}/capas", "post"),
        ("/deviations/{deviation_id}/training-adequacy", "get"),
        ("/deviations/{deviation_id}/training-assessments", "post"),
        ("/deviations/{deviation_id}/training-assessments/{assessment_id}", "get"),
        ("/deviations/{deviation_id}/close", "post"),
    ]:
        assert spec["paths"][f"/api/v1{path}"][method]["summary"]
    assert "AssessmentRecord" in spec["components"]["schemas"]
