"""CAPA through the REST API: lifecycle with e-signatures, training actions that assign in the
same transaction, closure refused while training is open, and every refusal.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bridge.core import audit
from qms.capa.models import Capa, CapaActionAssignment
from qms.training.models import Assignment
from tests.qms.conftest import future


def small_plant(plant) -> dict[str, Any]:
    """PROD with operators (OP): Ann and Bob hired; SOP-CAPA v1.0 effective; QC job function empty."""
    prod = plant.unit("departments", "PROD")
    op = plant.unit("job-functions", "OP")
    qc = plant.unit("job-functions", "QC")
    doc = plant.document("SOP-CAPA")
    version = plant.publish(doc["id"])
    plant.hire("Ann", prod, [op], person_id=plant.people["ann"])
    plant.hire("Bob", prod, [qc], person_id=plant.people["bob"])
    return {
        "prod": prod,
        "op": op,
        "qc": qc,
        "doc": doc,
        "item": doc["training_item_id"],
        "item_version": version["item_version_id"],
    }


def open_capa(plant, **extra: Any) -> dict[str, Any]:
    body = {
        "title": "Gowning breaches in grade C",
        "source": "audit",
        "source_reference": "AUD-2026-07",
        "owner_person_id": plant.people["supervisor"],
        "due_at": future(60),
        **extra,
    }
    return plant.post("/capas", "author", body, expect=201).json


def to_investigation(plant, capa_id: int, root_cause: str = "Procedure ambiguous on glove change") -> None:
    plant.post(f"/capas/{capa_id}/investigation", "author", expect=200)
    plant.call("PUT", f"/capas/{capa_id}/root-cause", "author", json={"root_cause": root_cause}, expect=200)


def sign_own(plant, user: str, capa_id: int) -> None:
    """The user signs every open assignment of theirs that the CAPA relies on."""
    for row in plant.get(f"/capas/{capa_id}")["training"]:
        if row["open"] and row["person_id"] == plant.people[user]:
            plant.post(f"/assignments/{row['assignment_id']}/sign", user, plant.sign(user), expect=201)


def test_capa_lifecycle_training_blocks_closure_until_complete(plant, db):
    p = small_plant(plant)
    capa = open_capa(plant)
    assert capa["number"].startswith("CAPA-") and capa["status"] == "open"
    to_investigation(plant, capa["id"])
    corrective = plant.post(
        f"/capas/{capa['id']}/actions",
        "author",
        {"kind": "corrective", "description": "Rewrite step 4 of SOP-CAPA", "due_at": future(20)},
        expect=201,
    ).json
    training = plant.post(
        f"/capas/{capa['id']}/actions",
        "author",
        {
            "kind": "training",
            "description": "Retrain operators and Bob on SOP-CAPA",
            "due_at": future(15),
            "training_item_ids": [p["item"]],
            "job_function_ids": [p["op"]],
            "person_ids": [plant.people["bob"]],
        },
        expect=201,
    ).json
    # Created in the same transaction: Ann (through OP) and Bob, reason capa, source this CAPA.
    assert len(training["assignments_created"]) == 2
    for assignment_id in training["assignments_created"]:
        assignment = plant.get(f"/assignments/{assignment_id}")
        assert (assignment["reason"], assignment["source_type"], assignment["source_id"]) == (
            "capa",
            "capa",
            capa["id"],
        )
        assert assignment["item_version_id"] == p["item_version"]
    plant.post(f"/capas/{capa['id']}/approve", "approver", plant.sign("approver"), expect=200)
    plant.post(
        f"/capas/{capa['id']}/actions/{corrective['id']}/complete",
        "author",
        {"note": "SOP-CAPA 2.0 drafted"},
        expect=200,
    )
    # Issue 14 #6: the effectiveness check waits for the training actions' assignments.
    refused = plant.post(f"/capas/{capa['id']}/effectiveness-check", "author", expect=409).json
    assert refused["error"] == "capa_training_incomplete" and refused["field"] == "training"
    blocking = refused["details"]["open_assignments"]
    assert {(b["person"], b["item"], b["version"], b["status"]) for b in blocking} == {
        ("Ann", "SOP-CAPA", "1.0", "open"),
        ("Bob", "SOP-CAPA", "1.0", "open"),
    }
    # Nothing half-written: still in progress, no closure signature.
    after = plant.get(f"/capas/{capa['id']}")
    assert after["status"] == "actions_in_progress" and after["closure_signature_id"] is None
    assert after["open_training"] == 2
    sign_own(plant, "ann", capa["id"])
    again = plant.post(f"/capas/{capa['id']}/effectiveness-check", "author", expect=409).json
    assert [b["person"] for b in again["details"]["open_assignments"]] == ["Bob"]
    sign_own(plant, "bob", capa["id"])
    plant.post(f"/capas/{capa['id']}/effectiveness-check", "author", expect=200)
    close = {**plant.sign("approver"), "effectiveness_summary": "No breach in 3 months of monitoring"}
    closed = plant.post(f"/capas/{capa['id']}/close", "approver", close, expect=200).json
    assert closed["status"] == "closed" and closed["open_training"] == 0
    assert [s["meaning"] for s in closed["signatures"]] == ["approved", "closed"]
    assert "I confirm this record is complete and close it" in closed["signatures"][1]["manifestation"]
    assert all(a["status"] == "done" for a in closed["actions"])
    with db.read_sessions() as session:
        actions = [row.action for row in audit.history(session, "qms_capa", capa["id"])]
    assert actions[0] == "create"
    assert [a for a in actions if a.startswith("capa.")] == [
        "capa.investigation",
        "capa.actions_in_progress",
        "capa.effectiveness_check",
        "capa.closed",
    ]
    # Steps after closure are refused (§11.10(f)).
    plant.post(
        f"/capas/{capa['id']}/cancel", "approver", {**plant.sign("approver"), "reason": "x"}, expect=409
    )
    plant.post(
        f"/capas/{capa['id']}/actions",
        "author",
        {"kind": "preventive", "description": "late", "due_at": future(5)},
        expect=409,
    )


def test_capa_creation_and_action_refusals_name_field_and_rule(plant, db):
    p = small_plant(plant)
    assert plant.post("/capas", "ann", {"title": "x"}, expect=403).json["error"] == "role_required"
    assert plant.post("/capas", "auditor", {"title": "x"}, expect=403).json["error"] == "role_required"
    base = {
        "title": "t",
        "source": "audit",
        "owner_person_id": plant.people["supervisor"],
        "due_at": future(9),
    }
    missing = plant.post("/capas", "author", {k: v for k, v in base.items() if k != "title"}, expect=400).json
    assert missing["field"] == "title"
    assert plant.post("/capas", "author", {**base, "source": "rumour"}, expect=400).json["field"] == "source"
    assert plant.post("/capas", "author", {**base, "extra": 1}, expect=400).json["field"] == "extra"
    past = plant.post("/capas", "author", {**base, "due_at": "2020-01-01T00:00:00Z"}, expect=400).json
    assert (past["error"], past["field"]) == ("due_date_in_past", "due_at")
    naive = plant.post("/capas", "author", {**base, "due_at": "2031-01-01T00:00:00"}, expect=400).json
    assert naive["field"] == "due_at"
    mismatch = plant.post("/capas", "author", {**base, "source": "deviation"}, expect=400).json
    assert (mismatch["error"], mismatch["field"]) == ("deviation_source_mismatch", "deviation_id")
    nobody = plant.post("/capas", "author", {**base, "owner_person_id": 99999}, expect=404).json
    assert nobody["field"] == "owner_person_id"
    nodev = plant.post(
        "/capas", "author", {**base, "source": "deviation", "deviation_id": 424242}, expect=404
    )
    assert nodev.json["field"] == "deviation_id"
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Capa)) == 0
    capa = open_capa(plant)
    cid = capa["id"]
    # Out of order: approval before the investigation, root cause before it too.
    early = plant.post(f"/capas/{cid}/approve", "approver", plant.sign("approver"), expect=409).json
    assert early["error"] == "invalid_transition" and early["field"] == "status"
    plant.call("PUT", f"/capas/{cid}/root-cause", "author", json={"root_cause": "x"}, expect=409)
    plant.post(f"/capas/{cid}/effectiveness-check", "author", expect=409)
    plant.post(f"/capas/{cid}/investigation", "author", expect=200)
    plant.post(f"/capas/{cid}/investigation", "author", expect=409)
    no_cause = plant.post(f"/capas/{cid}/approve", "approver", plant.sign("approver"), expect=409).json
    assert (no_cause["error"], no_cause["field"]) == ("root_cause_required", "root_cause")
    plant.call("PUT", f"/capas/{cid}/root-cause", "author", json={"root_cause": "ambiguous step"}, expect=200)
    no_actions = plant.post(f"/capas/{cid}/approve", "approver", plant.sign("approver"), expect=409).json
    assert (no_actions["error"], no_actions["field"]) == ("actions_required", "actions")
    # Action refusals.
    actions = f"/capas/{cid}/actions"
    training = {"kind": "training", "description": "retrain", "due_at": future(9)}
    no_items = plant.post(
        actions, "author", {**training, "person_ids": [plant.people["ann"]]}, expect=400
    ).json
    assert no_items["field"] == "training_item_ids"
    no_people = plant.post(actions, "author", {**training, "training_item_ids": [p["item"]]}, expect=400).json
    assert (no_people["error"], no_people["field"]) == ("no_trainees", "person_ids")
    empty_jf = plant.post(
        actions,
        "author",
        {**training, "training_item_ids": [p["item"]], "job_function_ids": [p["qc"] + 100]},
        expect=404,
    ).json
    assert empty_jf["field"] == "job_function_ids"
    nobody_holds = plant.post(
        actions,
        "author",
        {
            **training,
            "training_item_ids": [p["item"]],
            "job_function_ids": [plant.unit("job-functions", "NONE")],
        },
        expect=400,
    ).json
    assert (nobody_holds["error"], nobody_holds["field"]) == ("no_trainees", "job_function_ids")
    unknown_item = plant.post(
        actions,
        "author",
        {**training, "training_item_ids": [99999], "person_ids": [plant.people["ann"]]},
        expect=404,
    ).json
    assert unknown_item["field"] == "training_item_ids"
    unknown_person = plant.post(
        actions, "author", {**training, "training_item_ids": [p["item"]], "person_ids": [99999]}, expect=404
    ).json
    assert unknown_person["field"] == "person_ids"
    twice = plant.post(
        actions,
        "author",
        {**training, "training_item_ids": [p["item"], p["item"]], "person_ids": [plant.people["ann"]]},
        expect=400,
    ).json
    assert twice["field"] == "training_item_ids"
    draft_only = plant.document("SOP-DRAFT")
    plant.draft(draft_only["id"], "1.0")
    unpublished = plant.post(
        actions,
        "author",
        {
            **training,
            # The first item is assigned before the second is refused: all of it rolls back.
            "training_item_ids": [p["item"], draft_only["training_item_id"]],
            "person_ids": [plant.people["ann"]],
        },
        expect=409,
    ).json
    assert (unpublished["error"], unpublished["field"]) == ("no_trainable_version", "training_item_ids")
    corrective_naming = plant.post(
        actions,
        "author",
        {"kind": "corrective", "description": "x", "due_at": future(9), "person_ids": [plant.people["ann"]]},
        expect=400,
    ).json
    assert corrective_naming["error"] == "not_a_training_action"
    late = plant.post(
        actions,
        "author",
        {
            **training,
            "training_item_ids": [p["item"]],
            "person_ids": [plant.people["ann"]],
            "due_at": "2020-01-01T00:00:00Z",
        },
        expect=400,
    ).json
    assert late["field"] == "due_at"
    assert plant.post(actions, "trainer", training, expect=403).json["error"] == "role_required"
    # None of the refused actions left an action or an assignment behind.
    with db.read_sessions() as session:
        assert (
            session.scalar(select(func.count()).select_from(Assignment).where(Assignment.reason == "capa"))
            == 0
        )
    assert plant.get(f"/capas/{cid}")["actions"] == []
    preventive = plant.post(
        actions,
        "author",
        {"kind": "preventive", "description": "Add a gowning checklist", "due_at": future(9)},
        expect=201,
    ).json
    # A training action completes by its training; actions complete only once the plan is approved.
    plant.post(f"{actions}/{preventive['id']}/complete", "author", {"note": "done"}, expect=409)
    # Wrong password: refused, counted, and the CAPA is unchanged.
    wrong = plant.post(
        f"/capas/{cid}/approve",
        "approver",
        {"username": "approver", "password": "nope-nope-nope"},
        expect=401,
    ).json
    assert wrong["error"] in ("unauthorized", "wrong_password")
    not_mine = plant.post(f"/capas/{cid}/approve", "approver", plant.sign("author"), expect=403).json
    assert not_mine["field"] == "username"
    assert plant.get(f"/capas/{cid}")["status"] == "investigation"
    plant.post(f"/capas/{cid}/approve", "author", plant.sign("author"), expect=403)
    plant.post(f"/capas/{cid}/approve", "approver", plant.sign("approver"), expect=200)
    pending = plant.post(f"/capas/{cid}/effectiveness-check", "author", expect=409).json
    assert pending["error"] == "actions_open" and pending["details"]["open_actions"][0]["seq"] == 1
    plant.post(f"{actions}/{preventive['id']}/complete", "author", {"note": " "}, expect=400)
    plant.post(f"{actions}/{preventive['id']}/complete", "author", {"note": "checklist issued"}, expect=200)
    plant.post(f"{actions}/{preventive['id']}/complete", "author", {"note": "again"}, expect=409)
    plant.post(f"{actions}/99999/complete", "author", {"note": "x"}, expect=404)
    plant.post(
        f"/capas/{cid}/close",
        "approver",
        {**plant.sign("approver"), "effectiveness_summary": "ok"},
        expect=409,
    )
    plant.post(f"/capas/{cid}/effectiveness-check", "author", expect=200)
    plant.post(
        f"/capas/{cid}/close", "approver", {**plant.sign("approver"), "effectiveness_summary": ""}, expect=400
    )
    plant.post(
        f"/capas/{cid}/close", "author", {**plant.sign("author"), "effectiveness_summary": "ok"}, expect=403
    )
    plant.post(
        f"/capas/{cid}/close",
        "approver",
        {**plant.sign("approver"), "effectiveness_summary": "ok"},
        expect=200,
    )
    assert plant.get("/capas/424242", expect=404)["field"] == "capa_id"
    assert [c["number"] for c in plant.get("/capas?status=closed")] == [capa["number"]]
    plant.get("/capas?status=bogus", expect=400)
    plant.get("/capas", "ann", expect=403)


def test_self_approval_refused_by_site_policy(plant):
    small_plant(plant)
    capa = plant.post(
        "/capas",
        "admin",
        {"title": "t", "source": "complaint", "due_at": future(9), "owner_person_id": plant.people["admin"]},
        expect=201,
    ).json
    plant.post(f"/capas/{capa['id']}/investigation", "admin", expect=200)
    plant.call("PUT", f"/capas/{capa['id']}/root-cause", "admin", json={"root_cause": "r"}, expect=200)
    plant.post(
        f"/capas/{capa['id']}/actions",
        "admin",
        {"kind": "corrective", "description": "d", "due_at": future(5)},
        expect=201,
    )
    refused = plant.post(f"/capas/{capa['id']}/approve", "admin", plant.sign("admin"), expect=403).json
    assert refused["error"] == "self_approval_forbidden"


def test_training_action_relies_on_existing_assignment_and_cancel_releases_its_own(plant, db):
    p = small_plant(plant)
    # The matrix already obliges OP holders to SOP-CAPA: Ann holds an open matrix assignment.
    plant.post(
        "/requirements",
        "author",
        {"scope": "job_function", "scope_id": p["op"], "training_item_id": p["item"]},
        expect=201,
    )
    mine = [a for a in plant.get("/me/assignments", "ann") if a["status"] == "open"]
    assert len(mine) == 1 and mine[0]["reason"] != "capa"
    capa = open_capa(plant)
    to_investigation(plant, capa["id"])
    action = plant.post(
        f"/capas/{capa['id']}/actions",
        "author",
        {
            "kind": "training",
            "description": "retrain",
            "due_at": future(9),
            "training_item_ids": [p["item"]],
            "person_ids": [plant.people["ann"], plant.people["bob"]],
        },
        expect=201,
    ).json
    assert len(action["assignments_created"]) == 1  # Bob's; Ann keeps her matrix assignment
    assert set(action["assignment_ids"]) == {mine[0]["id"], action["assignments_created"][0]}
    linkage = {row["person"]: row for row in plant.get(f"/capas/{capa['id']}")["training"]}
    assert linkage["Ann"]["created_by_action"] is False and linkage["Bob"]["created_by_action"] is True
    cancelled = plant.post(
        f"/capas/{capa['id']}/cancel",
        "approver",
        {**plant.sign("approver"), "reason": "Duplicate of another CAPA"},
        expect=200,
    ).json
    assert cancelled["status"] == "cancelled" and cancelled["cancel_reason"] == "Duplicate of another CAPA"
    assert plant.get(f"/assignments/{action['assignments_created'][0]}")["status"] == "cancelled"
    assert plant.get(f"/assignments/{mine[0]['id']}")["status"] == "open"
    plant.post(
        f"/capas/{capa['id']}/cancel", "approver", {**plant.sign("approver"), "reason": "x"}, expect=409
    )
    plant.post(f"/capas/{capa['id']}/cancel", "author", {**plant.sign("author"), "reason": "x"}, expect=403)
    plant.post(f"/capas/{capa['id']}/cancel", "approver", plant.sign("approver"), expect=400)
    with db.read_sessions() as session:
        links = session.scalar(select(func.count()).select_from(CapaActionAssignment))
        history = audit.history(session, "qms_assignment", action["assignments_created"][0])
    assert links == 2
    assert history[-1].new_values["status"] == "cancelled" and "Duplicate" in history[-1].reason


def test_openapi_describes_every_capa_endpoint(plant):
    spec = plant.get("/openapi.json")
    for path, method in [
        ("/capas", "get"),
        ("/capas", "post"),
        ("/capas/{capa_id}", "get"),
        ("/capas/{capa_id}/investigation", "post"),
        ("/capas/{capa_id}/root-cause", "put"),
        ("/capas/{capa_id}/actions", "post"),
        ("/capas/{capa_id}/actions/{action_id}/complete", "post"),
        ("/capas/{capa_id}/approve", "post"),
        ("/capas/{capa_id}/effectiveness-check", "post"),
        ("/capas/{capa_id}/close", "post"),
        ("/capas/{capa_id}/cancel", "post"),
    ]:
        operation = spec["paths"][f"/api/v1{path}"][method]
        assert operation["summary"] and "403" in operation["responses"]
    assert "CapaActionCreate" in spec["components"]["schemas"]


def test_linkage_follows_a_superseded_assignment_to_its_successor(plant):
    p = small_plant(plant)
    plant.post(
        "/requirements",
        "author",
        {"scope": "job_function", "scope_id": p["op"], "training_item_id": p["item"]},
        expect=201,
    )
    capa = open_capa(plant)
    to_investigation(plant, capa["id"])
    plant.post(
        f"/capas/{capa['id']}/actions",
        "author",
        {
            "kind": "training",
            "description": "retrain Ann",
            "due_at": future(9),
            "training_item_ids": [p["item"]],
            "person_ids": [plant.people["ann"]],
        },
        expect=201,
    )
    before = plant.get(f"/capas/{capa['id']}")["training"]
    assert [(r["version"], r["created_by_action"]) for r in before] == [("1.0", False)]
    # A major revision supersedes Ann's assignment on 1.0: the CAPA now waits for 2.0.
    plant.publish(p["doc"]["id"], "2.0", "major")
    after = plant.get(f"/capas/{capa['id']}")["training"]
    assert [(r["version"], r["status"], r["linked_assignment_id"]) for r in after] == [
        ("2.0", "open", before[0]["assignment_id"])
    ]
    assert after[0]["assignment_id"] != before[0]["assignment_id"]
    plant.post(f"/assignments/{after[0]['assignment_id']}/sign", "ann", plant.sign("ann"), expect=201)
    assert plant.get(f"/capas/{capa['id']}")["open_training"] == 0


def test_concurrent_creations_get_distinct_numbers(plant, app):
    from concurrent.futures import ThreadPoolExecutor

    small_plant(plant)
    body = {
        "title": "parallel",
        "source": "trend",
        "owner_person_id": plant.people["supervisor"],
        "due_at": future(9),
    }

    def create(_n: int) -> tuple[int, str]:
        response = app.test_client().post("/api/v1/capas", json=body, headers=plant.headers["author"])
        return response.status_code, response.json.get("number", response.get_data(as_text=True))

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(create, range(8)))
    assert {status for status, _ in results} == {201}, results
    assert len({number for _, number in results}) == 8


def test_open_capa_training_moves_to_a_new_effective_version(plant, db):
    p = small_plant(plant)
    capa = open_capa(plant)
    to_investigation(plant, capa["id"])
    # Bob is outside the matrix of SOP-CAPA: the document's approval does not reassign him.
    action = plant.post(
        f"/capas/{capa['id']}/actions",
        "author",
        {
            "kind": "training",
            "description": "retrain Bob",
            "due_at": future(9),
            "training_item_ids": [p["item"]],
            "person_ids": [plant.people["bob"]],
        },
        expect=201,
    ).json
    (first,) = action["assignments_created"]
    plant.publish(p["doc"]["id"], "2.0", "major")
    old = plant.get(f"/assignments/{first}")
    assert old["status"] == "superseded" and old["superseded_by_id"]
    new = plant.get(f"/assignments/{old['superseded_by_id']}")
    assert (new["reason"], new["source_type"], new["source_id"], new["status"]) == (
        "capa",
        "capa",
        capa["id"],
        "open",
    )
    assert new["due_at"] == old["due_at"]
    (row,) = plant.get(f"/capas/{capa['id']}")["training"]
    assert (row["version"], row["assignment_id"], row["linked_assignment_id"]) == ("2.0", new["id"], first)
    plant.post(f"/assignments/{new['id']}/sign", "bob", plant.sign("bob"), expect=201)
    assert plant.get(f"/capas/{capa['id']}")["open_training"] == 0
    with db.read_sessions() as session:
        moved = audit.history(session, "qms_assignment", first)[-1]
    assert moved.new_values["status"] == "superseded" and "became effective" in moved.reason


def test_concurrent_approvals_sign_once(plant, app):
    from concurrent.futures import ThreadPoolExecutor

    small_plant(plant)
    capa = open_capa(plant)
    to_investigation(plant, capa["id"])
    plant.post(
        f"/capas/{capa['id']}/actions",
        "author",
        {"kind": "corrective", "description": "d", "due_at": future(5)},
        expect=201,
    )

    def approve(_n: int) -> int:
        return (
            app.test_client()
            .post(
                f"/api/v1/capas/{capa['id']}/approve",
                json=plant.sign("approver"),
                headers=plant.headers["approver"],
            )
            .status_code
        )

    with ThreadPoolExecutor(max_workers=3) as pool:
        statuses = sorted(pool.map(approve, range(3)))
    assert statuses == [200, 409, 409]
    assert [s["meaning"] for s in plant.get(f"/capas/{capa['id']}")["signatures"]] == ["approved"]


def test_terminated_trainee_no_longer_blocks_and_cannot_own(plant):
    p = small_plant(plant)
    capa = open_capa(plant)
    to_investigation(plant, capa["id"])
    action = plant.post(
        f"/capas/{capa['id']}/actions",
        "author",
        {
            "kind": "training",
            "description": "retrain",
            "due_at": future(9),
            "training_item_ids": [p["item"]],
            "person_ids": [plant.people["ann"], plant.people["bob"]],
        },
        expect=201,
    ).json
    plant.post(f"/capas/{capa['id']}/approve", "approver", plant.sign("approver"), expect=200)
    itself = plant.post(
        f"/capas/{capa['id']}/actions/{action['id']}/complete", "author", {"note": "done"}, expect=409
    ).json
    assert (itself["error"], itself["field"]) == ("training_action_completes_itself", "action_id")
    plant.post(
        f"/people/{plant.people['bob']}/terminate", "supervisor", {"reason": "left the company"}, expect=200
    )
    linkage = {r["person"]: r for r in plant.get(f"/capas/{capa['id']}")["training"]}
    assert linkage["Bob"]["status"] == "cancelled" and linkage["Ann"]["open"] is True
    blocking = plant.post(f"/capas/{capa['id']}/effectiveness-check", "author", expect=409).json
    assert [b["person"] for b in blocking["details"]["open_assignments"]] == ["Ann"]
    inactive = plant.post(
        "/capas",
        "author",
        {"title": "t", "source": "audit", "due_at": future(9), "owner_person_id": plant.people["bob"]},
        expect=400,
    ).json
    assert inactive["field"] == "owner_person_id"
    late_trainee = plant.post(
        "/capas",
        "author",
        {"title": "t2", "source": "audit", "due_at": future(9), "owner_person_id": plant.people["ann"]},
        expect=201,
    ).json
    to_investigation(plant, late_trainee["id"])
    refused = plant.post(
        f"/capas/{late_trainee['id']}/actions",
        "author",
        {
            "kind": "training",
            "description": "retrain",
            "due_at": future(9),
            "training_item_ids": [p["item"]],
            "person_ids": [plant.people["bob"]],
        },
        expect=400,
    ).json
    assert refused["field"] == "person_ids"
