"""Organisation and the events of a working life: each changes obligations at once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge.core import audit
from qms.org.models import PersonJobFunction
from qms.training.models import Assignment, ComplianceState


@pytest.fixture
def org(plant):
    ids = plant.ids
    ids["prod"] = plant.unit("departments", "PROD")
    ids["qc"] = plant.unit("departments", "QC")
    ids["op"] = plant.unit("job-functions", "OP")
    ids["analyst"] = plant.unit("job-functions", "ANALYST")
    ids["gran"] = plant.unit("equipment", "GRAN-01")
    created = {code: plant.document(code) for code in ("SOP-OP", "SOP-AN", "SOP-PROD", "SOP-GRAN")}
    plant.publish_many([doc["id"] for doc in created.values()])
    docs = {code: doc["training_item_id"] for code, doc in created.items()}
    for scope, scope_id, code in (
        ("job_function", ids["op"], "SOP-OP"),
        ("job_function", ids["analyst"], "SOP-AN"),
        ("department", ids["prod"], "SOP-PROD"),
        ("equipment", ids["gran"], "SOP-GRAN"),
    ):
        plant.post(
            "/requirements",
            "author",
            {"scope": scope, "scope_id": scope_id, "training_item_id": docs[code]},
            expect=201,
        )
    plant.ids.update({f"item:{k}": v for k, v in docs.items()})
    return plant


def open_items(db, person_id):
    with db.read_sessions() as session:
        return sorted(
            session.scalars(
                select(Assignment.training_item_id).where(
                    Assignment.person_id == person_id, Assignment.status == "open"
                )
            )
        )


def test_new_hire_gets_assignments_for_every_requirement(org, db):
    ids = org.ids
    hired = org.hire("Nina New", ids["prod"], [ids["op"]], [ids["gran"]])
    person = hired["person"]
    assert person["employed"] and person["department_ids"] == [ids["prod"]]
    assert len(hired["assignments_created"]) == 3
    assert open_items(db, person["id"]) == sorted(
        [ids["item:SOP-OP"], ids["item:SOP-PROD"], ids["item:SOP-GRAN"]]
    )
    assignments = org.get(f"/assignments?person_id={person['id']}")
    assert {a["reason"] for a in assignments} == {"new_hire"}
    assert all(a["source_type"] == "person" and a["source_id"] == person["id"] for a in assignments)


def test_role_change_transfer_and_equipment_change_obligations(org, db):
    ids = org.ids
    pid = org.hire("Rita", ids["prod"], [ids["op"]])["person"]["id"]
    changed = org.post(
        f"/people/{pid}/role-change",
        "supervisor",
        {"job_function_ids": [ids["analyst"]], "reason": "promotion"},
        expect=200,
    ).json
    assert changed["person"]["job_function_ids"] == [ids["analyst"]]
    assert len(changed["assignments_created"]) == 1
    # The operator SOP is no longer required: its open assignment is cancelled, the analyst SOP assigned.
    assert open_items(db, pid) == sorted([ids["item:SOP-AN"], ids["item:SOP-PROD"]])
    moved = org.post(
        f"/people/{pid}/transfer", "supervisor", {"department_id": ids["qc"], "reason": "to QC"}, expect=200
    ).json
    assert moved["person"]["department_ids"] == [ids["qc"]]
    assert open_items(db, pid) == [ids["item:SOP-AN"]]
    org.post(
        f"/people/{pid}/equipment",
        "supervisor",
        {"equipment_ids": [ids["gran"]], "reason": "cross-training"},
        expect=200,
    )
    assert open_items(db, pid) == sorted([ids["item:SOP-AN"], ids["item:SOP-GRAN"]])
    with db.read_sessions() as session:
        states = session.scalars(select(ComplianceState).where(ComplianceState.person_id == pid)).all()
        assert {s.department_id for s in states} == {ids["qc"]}
        memberships = session.scalars(
            select(PersonJobFunction).where(PersonJobFunction.person_id == pid)
        ).all()
        assert len(memberships) == 2 and sum(1 for m in memberships if m.valid_to is None) == 1
        cancelled = session.scalars(
            select(Assignment).where(Assignment.person_id == pid, Assignment.status == "cancelled")
        ).all()
        assert len(cancelled) == 2
        trail = audit.history(session, "qms_assignment", cancelled[0].id)
    assert trail[-1].new_values["status"] == "cancelled" and "no longer required" in trail[-1].reason


def test_leave_exempts_and_return_reschedules(org, db):
    ids = org.ids
    pid = org.hire("Lee", ids["prod"], [ids["op"]])["person"]["id"]
    org.post(f"/people/{pid}/leave", "supervisor", {"reason": "parental leave"}, expect=200)
    transcript = org.get(f"/people/{pid}/transcript")
    assert {r["status"] for r in transcript["requirements"]} == {"exempt"}
    report = org.get("/matrix/compliance")
    assert report["totals"]["exempt"] == 2
    org.post(f"/people/{pid}/leave", "supervisor", {"reason": "again"}, expect=409)
    org.post(f"/people/{pid}/return", "supervisor", {"reason": "back"}, expect=200)
    transcript = org.get(f"/people/{pid}/transcript")
    assert {r["status"] for r in transcript["requirements"]} == {"due"}
    org.post(f"/people/{pid}/return", "supervisor", {"reason": "again"}, expect=409)


def test_termination_ends_memberships_and_cancels_assignments(org, db):
    ids = org.ids
    pid = org.hire("Tom", ids["prod"], [ids["op"]])["person"]["id"]
    result = org.post(f"/people/{pid}/terminate", "supervisor", {"reason": "resigned"}, expect=200).json
    assert not result["person"]["employed"] and not result["person"]["active"]
    assert result["person"]["job_function_ids"] == []
    assert open_items(db, pid) == []
    with db.read_sessions() as session:
        assert not session.scalars(select(ComplianceState).where(ComplianceState.person_id == pid)).all()
    refused = org.post(
        f"/people/{pid}/transfer", "supervisor", {"department_id": ids["qc"], "reason": "x"}, expect=409
    ).json
    assert refused["error"] == "not_employed" and refused["field"] == "person_id"
    # Re-hire of the same person is allowed and obligations return.
    again = org.hire("Tom", ids["prod"], [ids["op"]], person_id=pid)
    assert len(again["assignments_created"]) == 2


def test_org_refusals(org):
    ids = org.ids
    dup = org.post("/departments", "author", {"code": "PROD", "name": "again"}, expect=409).json
    assert dup == {"error": "duplicate_code", "message": dup["message"], "field": "code"}
    bad = org.post("/departments", "author", {"code": "", "name": "x"}, expect=400).json
    assert bad["field"] == "code" and bad["error"] == "invalid_body"
    extra = org.post("/job-functions", "author", {"code": "X", "name": "x", "colour": "red"}, expect=400).json
    assert extra["field"] == "colour" and extra["details"]["errors"][0]["rule"] == "extra_forbidden"
    denied = org.post("/departments", "ann", {"code": "Z", "name": "z"}, expect=403).json
    assert denied["error"] == "role_required"
    assert org.post("/departments", "auditor", {"code": "Z", "name": "z"}).status_code == 403
    assert org.client.get("/api/v1/departments").status_code == 401
    no_jf = org.post(
        "/people/hire",
        "supervisor",
        {"display_name": "X", "department_id": ids["prod"], "job_function_ids": []},
        expect=400,
    ).json
    assert no_jf["field"] == "job_function_ids"
    missing = org.post(
        "/people/hire",
        "supervisor",
        {"display_name": "X", "department_id": 999, "job_function_ids": [ids["op"]]},
        expect=404,
    ).json
    assert missing["field"] == "department_id"
    pid = org.hire("Sam", ids["prod"], [ids["op"]])["person"]["id"]
    same = org.post(
        f"/people/{pid}/transfer", "supervisor", {"department_id": ids["prod"], "reason": "x"}, expect=400
    ).json
    assert same["error"] == "no_change"
    twice = org.post(
        "/people/hire",
        "supervisor",
        {"person_id": pid, "department_id": ids["prod"], "job_function_ids": [ids["op"]]},
        expect=409,
    ).json
    assert twice["error"] == "already_employed"
    no_reason = org.post(f"/people/{pid}/leave", "supervisor", {"reason": ""}, expect=400).json
    assert no_reason["field"] == "reason"
    not_json = org.call(
        "POST", f"/people/{pid}/leave", "supervisor", data="x", content_type="text/plain", expect=400
    ).json
    assert not_json["field"] == "body"


def test_people_list_filters_by_memberships_in_force(org):
    ids = org.ids
    ann = org.hire("Ann", ids["prod"], [ids["op"]], [ids["gran"]])["person"]["id"]
    bob = org.hire("Bob", ids["qc"], [ids["analyst"]])["person"]["id"]
    assert [p["id"] for p in org.get(f"/people?department_id={ids['prod']}")] == [ann]
    assert [p["id"] for p in org.get(f"/people?job_function_id={ids['analyst']}")] == [bob]
    assert [p["id"] for p in org.get(f"/people?equipment_id={ids['gran']}")] == [ann]
    org.post(f"/people/{bob}/terminate", "supervisor", {"reason": "left"}, expect=200)
    employed = {p["id"] for p in org.get("/people?employed=true")}
    assert ann in employed and bob not in employed
    assert bob in {p["id"] for p in org.get("/people?employed=false")}
    assert org.get("/people?limit=0", expect=400)["field"] == "limit"
    assert org.call("GET", "/people", "ann").status_code == 403
