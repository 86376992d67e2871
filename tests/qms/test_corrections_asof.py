"""Issue 14 corrections, "from replaying a plant's year": the as-of answers key on the approved
effective date; carried-over training keeps its due date; a minor revision leaves nothing overdue
for a person already trained; reports and filters as of any moment.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from qms.documents.models import TrainingItemVersion
from qms.training.models import Assignment
from tests.qms.conftest import future, now
from tests.qms.test_capa import open_capa, small_plant, to_investigation


def test_effective_moment_is_the_approved_date_not_the_sweep(plant, clock, db):
    """Issue 14 as-of (a): the sweep running late does not move the version's effective moment."""
    prod = plant.unit("departments", "PROD")
    op = plant.unit("job-functions", "OP")
    doc = plant.document("SOP-AS")
    item = doc["training_item_id"]
    plant.post("/requirements", "author", {"scope": "job_function", "scope_id": op, "training_item_id": item},
               expect=201)
    plant.publish(doc["id"])
    plant.hire("Ann", prod, [op], person_id=plant.people["ann"])
    first = plant.get("/me/assignments", "ann")[0]
    plant.post(f"/assignments/{first['id']}/sign", "ann", plant.sign("ann"), expect=201)
    v2 = plant.draft(doc["id"], "2.0")
    plant.post(f"/document-versions/{v2['id']}/submit", "author", expect=200)
    effective_at = (now() + dt.timedelta(days=3)).replace(microsecond=0)
    plant.post(f"/document-versions/{v2['id']}/approve", "approver",
               {**plant.sign("approver"), "effective_at": effective_at.isoformat()}, expect=200)
    # The worker's sweep runs ten minutes after the approved moment.
    clock.set(effective_at + dt.timedelta(minutes=10))
    plant.post("/sweeps/effective", "admin", expect=200)
    with db.read_sessions() as session:
        versions = {
            v.label: v for v in session.scalars(select(TrainingItemVersion).where(
                TrainingItemVersion.training_item_id == item))
        }
    assert versions["2.0"].effective_since == effective_at
    assert versions["1.0"].ended_at == effective_at
    asked = (effective_at + dt.timedelta(minutes=1)).isoformat()
    answer = plant.get(f"/people/{plant.people['ann']}/compliance", query_string={"at": asked})
    (requirement,) = answer["requirements"]
    assert requirement["version_in_force_label"] == "2.0" and requirement["met"] is False
    before = (effective_at - dt.timedelta(minutes=1)).isoformat()
    (earlier,) = plant.get(f"/people/{plant.people['ann']}/compliance", query_string={"at": before})[
        "requirements"]
    assert earlier["version_in_force_label"] == "1.0" and earlier["met"] is True


def test_carried_over_capa_training_keeps_its_due_date(plant, clock, db):
    """Issue 14 as-of (b): a CAPA assignment moved to a new version keeps its (past) due date."""
    p = small_plant(plant)
    capa = open_capa(plant)
    to_investigation(plant, capa["id"])
    due = future(15)
    action = plant.post(
        f"/capas/{capa['id']}/actions",
        "author",
        {"kind": "training", "description": "retrain Bob", "due_at": due,
         "training_item_ids": [p["item"]], "person_ids": [plant.people["bob"]]},
        expect=201,
    ).json
    (assignment_id,) = action["assignments_created"]
    clock.set(now() + dt.timedelta(days=20))
    plant.post("/sweeps/overdue", "admin", expect=200)
    assert plant.get(f"/assignments/{assignment_id}")["status"] == "overdue"
    plant.publish(p["doc"]["id"], "2.0")
    with db.read_sessions() as session:
        moved = session.scalar(select(Assignment).where(
            Assignment.person_id == plant.people["bob"], Assignment.source_type == "capa",
            Assignment.status.in_(("open", "overdue"))))
    assert moved is not None and moved.id != assignment_id
    assert moved.due_at == dt.datetime.fromisoformat(due)
    assert plant.get(f"/assignments/{assignment_id}")["status"] == "superseded"
    overdue = plant.get("/reports/overdue")
    assert [row["assignment_id"] for row in overdue["data"]["rows"]] == [moved.id]


def test_minor_revision_leaves_nothing_overdue_for_a_trained_person(plant, clock, db):
    """Issue 14 as-of (c): completed 1.0 after 1.1 (no retraining) was approved: the 1.1
    assignment is closed as met, not left to become overdue."""
    prod = plant.unit("departments", "PROD")
    op = plant.unit("job-functions", "OP")
    course = plant.post("/training-items", "author",
                        {"code": "ELN-9", "kind": "course", "title": "Aseptic basics"}, expect=201).json
    plant.post("/requirements", "author",
               {"scope": "job_function", "scope_id": op, "training_item_id": course["id"]}, expect=201)
    v1 = plant.post(f"/training-items/{course['id']}/versions", "author", {"label": "1.0"}, expect=201).json
    plant.post(f"/training-item-versions/{v1['id']}/approve", "approver",
               {**plant.sign("approver"), "effective_at": future(0.01)}, expect=200)
    clock.set(now() + dt.timedelta(days=1))
    plant.post("/sweeps/effective", "admin", expect=200)
    ann = plant.people["ann"]
    plant.hire("Ann", prod, [op], person_id=ann)
    v11 = plant.post(f"/training-items/{course['id']}/versions", "author",
                     {"label": "1.1", "retrain": False}, expect=201).json
    effective_at = now() + dt.timedelta(days=5)
    plant.post(f"/training-item-versions/{v11['id']}/approve", "approver",
               {**plant.sign("approver"), "effective_at": effective_at.isoformat()}, expect=200)
    # Ann completes 1.0 (the version in force) in the LMS.
    plant.post(f"/training-item-versions/{v1['id']}/course-results", "trainer",
               {"person_id": ann, "score_scaled": 1.0, "passed": True}, expect=200)
    clock.set(effective_at + dt.timedelta(days=10))
    plant.post("/sweeps/effective", "admin", expect=200)
    plant.post("/sweeps/overdue", "admin", expect=200)
    answer = plant.get(f"/people/{ann}/compliance", query_string={"at": now().isoformat()})
    assert answer["qualified"] is True
    assert plant.get("/reports/overdue")["data"]["rows"] == []
    with db.read_sessions() as session:
        lingering = session.scalars(select(Assignment).where(
            Assignment.person_id == ann, Assignment.status.in_(("open", "overdue", "content_complete"))
        )).all()
    assert lingering == []


def test_reports_and_filters_as_of_any_moment(plant, clock):
    """Issue 14 as-of (d): `at` on the overdue, CAPA-training and matrix-compliance reports; every
    department's compliance in one call; assignments by their source record (id or number)."""
    p = small_plant(plant)  # Ann (OP) and Bob (QC) in PROD; SOP-CAPA 1.0 effective
    plant.post("/requirements", "author",
               {"scope": "job_function", "scope_id": p["op"], "training_item_id": p["item"]}, expect=201)
    qc_dept = plant.unit("departments", "QCD")
    capa = open_capa(plant)
    to_investigation(plant, capa["id"])
    plant.post(f"/capas/{capa['id']}/actions", "author", {
        "kind": "training", "description": "retrain Bob", "due_at": future(10),
        "training_item_ids": [p["item"]], "person_ids": [plant.people["bob"]],
    }, expect=201)
    start = now()
    late = start + dt.timedelta(days=35)
    clock.set(start + dt.timedelta(days=40))
    plant.post("/sweeps/overdue", "admin", expect=200)
    for user in ("ann", "bob"):
        for assignment in plant.get("/me/assignments", user):
            if assignment["status"] in ("open", "overdue"):
                plant.post(f"/assignments/{assignment['id']}/sign", user, plant.sign(user), expect=201)
    # Now nothing is overdue; at `late` both were.
    assert plant.get("/reports/overdue")["data"]["rows"] == []
    then = plant.get("/reports/overdue", query_string={"at": late.isoformat()})
    assert sorted(r["person"] for r in then["data"]["rows"]) == ["Ann", "Bob"]
    assert dt.datetime.fromisoformat(then["filters"]["as_of"]) == late
    matrix_then = plant.get("/matrix/compliance", query_string={"at": late.isoformat()})
    assert (matrix_then["totals"]["overdue"], matrix_then["totals"]["compliant"]) == (1, 0)
    assert plant.get("/matrix/compliance")["totals"]["compliant"] == 1
    report_then = plant.get("/reports/matrix-compliance", query_string={"at": late.isoformat()})
    assert report_then["data"]["totals"]["overdue"] == 1
    capa_then = plant.get("/reports/capa-training",
                          query_string={"capa_id": capa["id"], "at": late.isoformat()})
    assert [(r["person"], r["status"], r["open"]) for r in capa_then["data"]["rows"]] == [
        ("Bob", "overdue", True)
    ]
    capa_now = plant.get("/reports/capa-training", query_string={"capa_id": capa["id"]})
    assert [(r["status"], r["open"]) for r in capa_now["data"]["rows"]] == [("completed", False)]
    before = plant.get("/reports/capa-training",
                       query_string={"capa_id": capa["id"], "at": (start - dt.timedelta(days=1)).isoformat()})
    assert before["data"]["rows"] == []
    # Every department in one call.
    everything = plant.get("/departments/compliance", query_string={"at": late.isoformat()})
    by_code = {d["department"]["code"]: d for d in everything["departments"]}
    assert set(by_code) == {"PROD", "QCD"} and by_code["PROD"]["members"] == 2
    assert everything["standings"]["overdue"] == 2 and by_code["QCD"]["members"] == 0 and qc_dept
    # Assignments by source: the CAPA by id or by number.
    by_id = plant.get("/assignments", query_string={"source_type": "capa", "source_id": capa["id"]})
    by_number = plant.get("/assignments", query_string={"source_number": capa["number"]})
    assert [a["id"] for a in by_id] == [a["id"] for a in by_number] and len(by_id) == 1
    assert by_id[0]["person_id"] == plant.people["bob"]
    unknown = plant.get("/assignments", query_string={"source_number": "CC-1999-0001"}, expect=404)
    assert unknown["field"] == "source_number"
    plant.get("/assignments", query_string={"source_id": 1}, expect=400)
