"""Completions: read-and-understood (the contract with lti/), sessions, OJT, courses; immutability."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge.core import audit
from bridge.core.errors import Forbidden, InvalidTransition
from bridge.core.events import bus
from qms.documents import services as documents
from qms.events import TrainingCompleted
from qms.training import services as training
from qms.training.models import Completion
from tests.conftest import TEST_PASSWORD
from tests.qms.conftest import future


@pytest.fixture
def site(plant):
    ids = plant.ids
    ids["prod"] = plant.unit("departments", "PROD")
    ids["op"] = plant.unit("job-functions", "OP")
    doc = plant.document("SOP-7")
    ids["item"] = doc["training_item_id"]
    plant.post(
        "/requirements",
        "author",
        {"scope": "job_function", "scope_id": ids["op"], "training_item_id": ids["item"]},
        expect=201,
    )
    v1 = plant.draft(
        doc["id"],
        "1.0",
        activity_iris=["https://lms.example/xapi/sop-7"],
        lms_url="https://lms.example/course/7",
    )
    plant.post(f"/document-versions/{v1['id']}/submit", "author", {}, expect=200)
    plant.approve_soon(v1["id"])
    plant.post("/sweeps/effective", "admin", expect=200)
    ids["dv1"] = v1["id"]
    for name in ("ann", "bob"):
        ids[name] = plant.hire(name, ids["prod"], [ids["op"]], person_id=plant.people[name])["person"]["id"]
    return plant


def test_learner_assignments_and_contract_completion(site, uow_factory, db):
    ids = site.ids
    with db.read_sessions() as session:
        listed = training.learner_assignments(session, ids["ann"])
        items = documents.list_training_items(session, kinds=["read_and_understand"])
        item = documents.get_training_item(session, ids["item"])
        assert item.current_version.label == "1.0" and [i.code for i in items] == ["SOP-7"]
    assert len(listed) == 1
    entry = listed[0]
    assert entry["status"] == "open" and entry["reason"] == "new_hire"
    assert entry["training_item"] == {
        "id": ids["item"],
        "kind": "read_and_understand",
        "title": "SOP-7 procedure",
        "code": "SOP-7",
    }
    assert entry["version"]["label"] == "1.0" and entry["version"]["status"] == "effective"
    assert entry["content"] == {
        "activity_iris": ["https://lms.example/xapi/sop-7"],
        "lms_url": "https://lms.example/course/7",
        "file_url": f"/api/v1/document-versions/{ids['dv1']}/file",
    }
    events = []
    handler = lambda uow, evt: events.append(evt)  # noqa: E731
    bus.subscribe(TrainingCompleted, handler)
    from bridge.core import accounts

    with db.read_sessions() as session:
        ann_actor = accounts.get_user(session, "ann").actor()
        bob_actor = accounts.get_user(session, "bob").actor()
    try:
        with uow_factory(bob_actor) as uow, pytest.raises(Forbidden, match="only the assigned person"):
            training.complete_read_and_understood(uow, entry["id"], username="bob", password=TEST_PASSWORD)
        # Ann opens the controlled file first (issue 14 #5: "read and understood" needs it presented).
        site.get(entry["content"]["file_url"].removeprefix("/api/v1"), "ann")
        with uow_factory(ann_actor) as uow:
            completion = training.complete_read_and_understood(
                uow, entry["id"], username="ann", password=TEST_PASSWORD, lockout_threshold=3
            )
            uow.commit()
    finally:
        bus._handlers[TrainingCompleted].remove(handler)
    assert len(events) == 1 and events[0].completion_id == completion.id
    assert events[0].person_id == ids["ann"] and events[0].item_version_id == completion.item_version_id
    with db.read_sessions() as session:
        done = training.learner_assignments(session, ids["ann"])[0]
        assert done["status"] == "completed" and done["completion_id"] == completion.id
        assert done["completed_at"] is not None
        stored = session.get(Completion, completion.id)
        assert stored.signature_id is not None and stored.method == "read_and_understood"
        assert audit.history(session, "qms_completion", completion.id)[0].action == "create"
    with uow_factory(ann_actor) as uow, pytest.raises(InvalidTransition, match="completed"):
        training.complete_read_and_understood(uow, entry["id"], username="ann", password=TEST_PASSWORD)


def test_completions_are_immutable(site, uow_factory):
    ids = site.ids
    assignment = site.get("/me/assignments", "ann")[0]
    completion = site.post(f"/assignments/{assignment['id']}/sign", "ann", site.sign("ann"), expect=201).json
    with uow_factory() as uow:
        stored = uow.session.get(Completion, completion["id"])
        stored.score_scaled = 1.0
        with pytest.raises(RuntimeError, match="immutable"):
            uow.flush()
    with uow_factory() as uow:
        uow.session.delete(uow.session.get(Completion, completion["id"]))
        with pytest.raises(RuntimeError, match="immutable"):
            uow.flush()
    shown = site.get(f"/completions/{completion['id']}", "ann")
    assert "I have read and understood this document" in shown["signature"]
    assert site.call("GET", f"/completions/{completion['id']}", "bob").status_code == 403
    assert ids["ann"]


def test_sign_refusals(site):
    ann_assignment = site.get("/me/assignments", "ann")[0]
    other = site.post(f"/assignments/{ann_assignment['id']}/sign", "bob", site.sign("bob"), expect=403).json
    assert other["error"] == "not_assignee"
    impersonate = site.post(
        f"/assignments/{ann_assignment['id']}/sign",
        "ann",
        {"username": "bob", "password": TEST_PASSWORD},
        expect=403,
    ).json
    assert impersonate["error"] == "not_signer"
    missing = site.post(
        f"/assignments/{ann_assignment['id']}/sign", "ann", {"username": "ann"}, expect=400
    ).json
    assert missing["field"] == "password"
    assert (
        site.post("/assignments/9999/sign", "ann", site.sign("ann"), expect=404).json["field"]
        == "assignment_id"
    )
    for _attempt in range(3):
        site.post(
            f"/assignments/{ann_assignment['id']}/sign",
            "ann",
            {"username": "ann", "password": "Wrong-Password-1"},
            expect=401,
        )
    locked = site.post(f"/assignments/{ann_assignment['id']}/sign", "ann", site.sign("ann"), expect=423).json
    assert locked["error"] == "account_locked"


def test_instructor_led_roster_and_ojt_signoff(site, db):
    ids = site.ids
    session_item = site.post(
        "/training-items",
        "author",
        {"code": "ILT-GMP", "kind": "instructor_led", "title": "GMP basics"},
        expect=201,
    ).json
    assert session_item["requires_trainer"] is True
    version = site.post(
        f"/training-items/{session_item['id']}/versions", "author", {"label": "2026"}, expect=201
    ).json
    early = site.post(
        f"/training-item-versions/{version['id']}/attendance",
        "trainer",
        {**site.sign("trainer"), "person_ids": [ids["ann"]]},
        expect=409,
    ).json
    assert early["error"] == "version_not_trainable"
    site.post(
        f"/training-item-versions/{version['id']}/approve",
        "approver",
        {**site.sign("approver"), "effective_at": future()},
        expect=200,
    )
    roster = site.post(
        f"/training-item-versions/{version['id']}/attendance",
        "trainer",
        {**site.sign("trainer"), "person_ids": [ids["ann"], ids["bob"]], "note": "room 2"},
        expect=201,
    ).json
    assert len(roster["completions"]) == 2
    assert {c["method"] for c in roster["completions"]} == {"attendance"}
    assert len({c["trainer_signature_id"] for c in roster["completions"]}) == 1
    assert (
        site.post(
            f"/training-item-versions/{version['id']}/attendance",
            "author",
            {**site.sign("author"), "person_ids": [ids["ann"]]},
        ).status_code
        == 403
    )
    twice = site.post(
        f"/training-item-versions/{version['id']}/attendance",
        "trainer",
        {**site.sign("trainer"), "person_ids": [ids["ann"], ids["ann"]]},
        expect=400,
    ).json
    assert twice["field"] == "person_ids"
    ojt = site.post(
        "/training-items", "author", {"code": "OJT-GRAN", "kind": "ojt", "title": "Granulator"}, expect=201
    ).json
    ojt_version = site.post(
        f"/training-items/{ojt['id']}/versions", "author", {"label": "1"}, expect=201
    ).json
    site.post(
        f"/training-item-versions/{ojt_version['id']}/approve",
        "approver",
        {**site.sign("approver"), "effective_at": future()},
        expect=200,
    )
    wrong_kind = site.post(
        f"/training-item-versions/{version['id']}/ojt-signoff",
        "trainer",
        {**site.sign("trainer"), "person_id": ids["ann"]},
        expect=400,
    ).json
    assert wrong_kind["field"] == "item_version_id"
    own = site.post(
        f"/training-item-versions/{ojt_version['id']}/ojt-signoff",
        "trainer",
        {**site.sign("trainer"), "person_id": site.people["trainer"]},
        expect=403,
    ).json
    assert own["error"] == "self_signoff"
    signed = site.post(
        f"/training-item-versions/{ojt_version['id']}/ojt-signoff",
        "trainer",
        {**site.sign("trainer"), "person_id": ids["ann"], "comment": "competent"},
        expect=201,
    ).json
    assert signed["method"] == "ojt_signoff" and signed["trainer_person_id"] == site.people["trainer"]
    transcript = site.get(f"/people/{ids['ann']}/transcript", "ann")
    assert {c["item_code"] for c in transcript["completions"]} == {"ILT-GMP", "OJT-GRAN"}
    assert any("I verify the trainee" in (c["trainer_signature"] or "") for c in transcript["completions"])
    assert site.call("GET", f"/people/{ids['ann']}/transcript", "bob").status_code == 403


def test_course_rules_pass_score_and_signature(site, db):
    ids = site.ids
    course = site.post(
        "/training-items",
        "author",
        {
            "code": "ELN-1",
            "kind": "course",
            "title": "Data integrity",
            "pass_score": 0.8,
            "requires_signature": True,
        },
        expect=201,
    ).json
    version = site.post(
        f"/training-items/{course['id']}/versions",
        "author",
        {"label": "1", "activity_iris": ["https://lms.example/xapi/di"]},
        expect=201,
    ).json
    site.post(
        f"/training-item-versions/{version['id']}/approve",
        "approver",
        {**site.sign("approver"), "effective_at": future()},
        expect=200,
    )
    assigned = site.post(
        "/assignments",
        "trainer",
        {"person_ids": [ids["ann"]], "item_version_id": version["id"], "due_at": future(5)},
        expect=201,
    ).json
    failed = site.post(
        f"/training-item-versions/{version['id']}/course-results",
        "trainer",
        {"person_id": ids["ann"], "score_scaled": 0.5},
        expect=200,
    ).json
    assert failed["completion"] is None
    early_sign = site.post(
        f"/assignments/{assigned['assignment_ids'][0]}/sign", "ann", site.sign("ann"), expect=409
    ).json
    assert early_sign["error"] == "content_not_complete"
    site.post(
        f"/training-item-versions/{version['id']}/course-results",
        "trainer",
        {"person_id": ids["ann"], "score_scaled": 0.9, "passed": True},
        expect=200,
    )
    assert site.get(f"/assignments/{assigned['assignment_ids'][0]}", "ann")["status"] == "content_complete"
    done = site.post(
        f"/assignments/{assigned['assignment_ids'][0]}/sign", "ann", site.sign("ann"), expect=201
    ).json
    assert done["method"] == "course"
    past_due = site.post(
        "/assignments",
        "trainer",
        {"person_ids": [ids["bob"]], "item_version_id": version["id"], "due_at": "2020-01-01T00:00:00Z"},
        expect=400,
    ).json
    assert past_due["error"] == "due_date_in_past"
    with db.read_sessions() as session:
        assert (
            session.scalar(
                select(Completion).where(
                    Completion.person_id == ids["ann"], Completion.training_item_id == course["id"]
                )
            )
            is not None
        )
