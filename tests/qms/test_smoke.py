from tests.qms.conftest import future


def test_smoke_flow(plant):
    prod = plant.unit("departments", "PROD")
    op = plant.unit("job-functions", "OP")
    doc = plant.document("SOP-001")
    plant.post(
        "/requirements",
        "author",
        {"scope": "job_function", "scope_id": op, "training_item_id": doc["training_item_id"]},
        expect=201,
    )
    plant.publish(doc["id"])
    hired = plant.hire("Ann", prod, [op], person_id=plant.people["ann"])
    assert len(hired["assignments_created"]) == 1
    mine = plant.get("/me/assignments", "ann")
    assert mine[0]["status"] == "open"
    done = plant.post(f"/assignments/{mine[0]['id']}/sign", "ann", plant.sign("ann"), expect=201).json
    assert done["method"] == "read_and_understood"
    report = plant.get("/matrix/compliance")
    assert report["totals"]["compliant"] == 1, report
    v2 = plant.draft(doc["id"], "2.0")
    cc = plant.post(
        "/change-controls",
        "author",
        {"title": "t", "effective_at": future(), "document_version_ids": [v2["id"]]},
        expect=201,
    ).json
    plant.post(f"/change-controls/{cc['id']}/submit", "author", expect=200)
    approved = plant.post(
        f"/change-controls/{cc['id']}/approve", "approver", plant.sign("approver"), expect=200
    ).json
    assert approved["assignments_created"] == 1
    spec = plant.get("/openapi.json")
    assert "/api/v1/change-controls/{change_control_id}/approve" in spec["paths"]
