"""Issue 14 #1 and #2: a requirement is in force only while its document has a version in force;
superseding never leaves a person without a way to be compliant on the version in force.
"""

from __future__ import annotations

import datetime as dt

from tests.qms.conftest import future, now


def _plant_with_signed_sop(plant):
    prod = plant.unit("departments", "PROD")
    op = plant.unit("job-functions", "OP")
    sop1 = plant.document("SOP-001")
    plant.post("/requirements", "author",
               {"scope": "job_function", "scope_id": op, "training_item_id": sop1["training_item_id"]},
               expect=201)
    plant.publish(sop1["id"])
    plant.hire("Ann", prod, [op], person_id=plant.people["ann"])
    for assignment in plant.get("/me/assignments", "ann"):
        plant.post(f"/assignments/{assignment['id']}/sign", "ann", plant.sign("ann"), expect=201)
    return prod, op, sop1


def test_a_document_with_no_version_in_force_is_neither_met_nor_a_gap(plant):
    """Issue 14 #1: person, department, document and matrix compliance; deviation adequacy."""
    prod, op, _sop1 = _plant_with_signed_sop(plant)
    # SOP-042 approved, effective in 17 days, added to the matrix.
    sop42 = plant.document("SOP-042")
    v42 = plant.draft(sop42["id"], "1.0")
    plant.post(f"/document-versions/{v42['id']}/submit", "author", expect=200)
    plant.post(f"/document-versions/{v42['id']}/approve", "approver",
               {**plant.sign("approver"), "effective_at": future(17)}, expect=200)
    plant.post("/requirements", "author",
               {"scope": "job_function", "scope_id": op, "training_item_id": sop42["training_item_id"]},
               expect=201)
    ann = plant.people["ann"]
    at = {"at": now().isoformat()}
    answer = plant.get(f"/people/{ann}/compliance", query_string=at)
    assert answer["qualified"] is True, answer
    assert [r["item_code"] for r in answer["requirements"]] == ["SOP-001"]
    assert [r["item_code"] for r in answer["not_in_force"]] == ["SOP-042"]
    department = plant.get(f"/departments/{prod}/compliance", query_string=at)
    assert department["qualified"] == 1
    document = plant.get(f"/documents/{sop42['id']}/compliance", query_string=at)
    assert (document["required"], document["trained"]) == (0, 0)
    matrix = plant.get("/matrix/compliance")
    assert matrix["totals"]["not_in_force"] == 1 and matrix["totals"]["compliance_pct"] == 100.0
    assert matrix["totals"]["overdue"] == 0
    # A deviation before SOP-042's first version was in force can be concluded adequate.
    deviation = plant.post("/deviations", "author", {
        "title": "Line clearance", "classification": "minor",
        "occurred_at": (now() - dt.timedelta(minutes=1)).isoformat(),
        "person_ids": [ann], "document_ids": [sop42["id"]],
    }, expect=201).json
    adequacy = plant.get(f"/deviations/{deviation['id']}/training-adequacy")
    assert adequacy["adequate"] is True and adequacy["untrained"] == 0 and adequacy["not_in_force"] == 1
    plant.post(f"/deviations/{deviation['id']}/training-assessments", "approver",
               {**plant.sign("approver"), "conclusion": "adequate", "rationale": "not in force then"},
               expect=201)


def test_superseding_leaves_a_way_to_be_compliant_on_the_version_in_force(plant):
    """Issue 14 #2: 2.0 approved for later; Ann, untrained on 1.0 (still in force), signs 2.0 now
    and is compliant on 1.0 at once (a completion of a newer version meets the older one)."""
    prod = plant.unit("departments", "PROD")
    op = plant.unit("job-functions", "OP")
    sop = plant.document("SOP-001")
    plant.post("/requirements", "author",
               {"scope": "job_function", "scope_id": op, "training_item_id": sop["training_item_id"]},
               expect=201)
    plant.publish(sop["id"])
    ann = plant.people["ann"]
    plant.hire("Ann", prod, [op], person_id=ann)
    v2 = plant.draft(sop["id"], "2.0")
    change = plant.post("/change-controls", "author", {
        "title": "New detergent", "impact": "steps 4-7", "effective_at": future(17),
        "document_version_ids": [v2["id"]],
    }, expect=201).json
    plant.post(f"/change-controls/{change['id']}/submit", "author", expect=200)
    plant.post(f"/change-controls/{change['id']}/approve", "approver", plant.sign("approver"), expect=200)
    at = {"at": now().isoformat()}
    before = plant.get(f"/people/{ann}/compliance", query_string=at)
    assert before["qualified"] is False
    (open_assignment,) = [a for a in plant.get("/me/assignments", "ann") if a["status"] == "open"]
    assert open_assignment["version"]["label"] == "2.0"
    plant.post(f"/assignments/{open_assignment['id']}/sign", "ann", plant.sign("ann"), expect=201)
    after = plant.get(f"/people/{ann}/compliance", query_string={"at": now().isoformat()})
    assert after["qualified"] is True, after
    (requirement,) = after["requirements"]
    assert (requirement["version_in_force_label"], requirement["completed_version_label"]) == ("1.0", "2.0")
    states = plant.get(f"/people/{ann}/transcript", "ann")["requirements"]
    assert [s["status"] for s in states] == ["compliant"]
