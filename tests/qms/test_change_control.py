"""Change control: approval creates assignments in the same transaction; gating; refusals."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from bridge.core import audit
from bridge.core.events import bus
from bridge.core.signatures import ElectronicSignature
from qms.events import ChangeControlApproved
from qms.training.models import Assignment
from tests.qms.conftest import future, now, run_effective_sweep


@pytest.fixture
def site(plant):
    ids = plant.ids
    ids["prod"] = plant.unit("departments", "PROD")
    ids["op"] = plant.unit("job-functions", "OP")
    ids["qa"] = plant.unit("job-functions", "QA")
    doc = plant.document("SOP-014")
    ids["doc"], ids["item"] = doc["id"], doc["training_item_id"]
    plant.post(
        "/requirements",
        "author",
        {"scope": "job_function", "scope_id": ids["op"], "training_item_id": ids["item"]},
        expect=201,
    )
    ids["v1"] = plant.publish(doc["id"])["id"]
    ids["ann"] = plant.hire("Ann", ids["prod"], [ids["op"]], person_id=plant.people["ann"])["person"]["id"]
    ids["bob"] = plant.hire("Bob", ids["prod"], [ids["op"]], person_id=plant.people["bob"])["person"]["id"]
    ids["carl"] = plant.hire("Carl", ids["prod"], [ids["qa"]])["person"]["id"]
    # Ann is trained on 1.0; Bob still has his 1.0 assignment open.
    ann_assignment = plant.get("/me/assignments", "ann")[0]
    plant.post(f"/assignments/{ann_assignment['id']}/sign", "ann", plant.sign("ann"), expect=201)
    return plant


def open_change(plant, revision="major", effective_at=None, **extra):
    version = plant.draft(plant.ids["doc"], "2.0" if revision == "major" else "1.1", revision, **extra)
    change = plant.post(
        "/change-controls",
        "author",
        {
            "title": "New detergent",
            "impact": "steps 4-7",
            "effective_at": effective_at or future(14),
            "document_version_ids": [version["id"]],
            **({"min_trained_pct": 50} if revision == "major" else {}),
        },
        expect=201,
    ).json
    return version, change


def test_approval_assigns_everyone_who_needs_the_version_and_supersedes(site, db):
    ids = site.ids
    published = []
    handler = lambda uow, evt: published.append(evt)  # noqa: E731
    bus.subscribe(ChangeControlApproved, handler)
    try:
        _version, change = open_change(site)
        submitted = site.post(f"/change-controls/{change['id']}/submit", "author", expect=200).json
        assert submitted["status"] == "submitted" and submitted["affected"][0]["status"] == "in_review"
        approved = site.post(
            f"/change-controls/{change['id']}/approve", "approver", site.sign("approver"), expect=200
        ).json
    finally:
        bus._handlers[ChangeControlApproved].remove(handler)
    assert approved["status"] == "approved" and approved["assignments_created"] == 2
    assert published and published[0].change_control_id == change["id"]
    with db.read_sessions() as session:
        new = session.scalars(
            select(Assignment).where(
                Assignment.source_type == "change_control", Assignment.source_id == change["id"]
            )
        ).all()
        assert sorted(a.person_id for a in new) == sorted([ids["ann"], ids["bob"]])  # not Carl (QA)
        effective_at = dt.datetime.fromisoformat(change["effective_at"])
        assert all(
            a.due_at == effective_at and a.reason == "change_control" and a.status == "open" for a in new
        )
        bob_old = session.scalar(
            select(Assignment).where(Assignment.person_id == ids["bob"], Assignment.source_type == "person")
        )
        assert bob_old.status == "superseded"
        assert bob_old.superseded_by_id == next(a.id for a in new if a.person_id == ids["bob"])
        trail = audit.history(session, "qms_assignment", new[0].id)
        assert trail[0].action == "create" and trail[0].actor_username == "approver"
        assert audit.history(session, "qms_assignment", bob_old.id)[-1].new_values["status"] == "superseded"
        signature = session.get(ElectronicSignature, approved["approval_signature_id"])
        assert signature.meaning == "approved" and signature.record_type == "qms_change_control"
    training = site.get(f"/change-controls/{change['id']}")["training"][0]
    assert training["affected"] == 2 and training["trained"] == 0 and training["gate_pct"] == 50


def test_minor_revision_without_retraining_keeps_trained_people(site, db):
    ids = site.ids
    _version, change = open_change(site, "minor", change_summary="typo")
    site.post(f"/change-controls/{change['id']}/submit", "author", expect=200)
    approved = site.post(
        f"/change-controls/{change['id']}/approve", "approver", site.sign("approver"), expect=200
    ).json
    # Only Bob, who still had an open assignment, moves to the new version.
    assert approved["assignments_created"] == 1
    with db.read_sessions() as session:
        assigned = session.scalars(
            select(Assignment.person_id).where(Assignment.source_type == "change_control")
        ).all()
    assert assigned == [ids["bob"]]


def test_wrong_password_writes_nothing(site, db):
    _version, change = open_change(site)
    site.post(f"/change-controls/{change['id']}/submit", "author", expect=200)
    with db.read_sessions() as session:
        before = session.scalar(select(func.count()).select_from(Assignment))
    refused = site.post(
        f"/change-controls/{change['id']}/approve",
        "approver",
        {"username": "approver", "password": "Not-The-Password-1"},
        expect=401,
    ).json
    assert refused["error"] == "wrong_password"
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Assignment)) == before
    assert site.get(f"/change-controls/{change['id']}")["status"] == "submitted"


def test_change_control_refusals(site, make_user, api_token):
    ids = site.ids
    version, change = open_change(site)
    early = site.post(
        f"/change-controls/{change['id']}/approve", "approver", site.sign("approver"), expect=409
    ).json
    assert early["error"] == "invalid_transition" and early["field"] == "status"
    past = site.post(
        "/change-controls",
        "author",
        {"title": "x", "effective_at": "2020-01-01T00:00:00Z", "document_version_ids": [version["id"]]},
        expect=400,
    ).json
    assert past["error"] == "effective_date_in_past" and past["field"] == "effective_at"
    taken = site.post(
        "/change-controls",
        "author",
        {"title": "x", "effective_at": future(), "document_version_ids": [version["id"]]},
        expect=409,
    ).json
    assert taken["error"] == "already_in_change_control"
    effective = site.post(
        "/change-controls",
        "author",
        {"title": "x", "effective_at": future(), "document_version_ids": [ids["v1"]]},
        expect=409,
    ).json
    assert effective["error"] == "version_not_changeable"
    empty = site.post(
        "/change-controls",
        "author",
        {"title": "x", "effective_at": future(), "document_version_ids": []},
        expect=400,
    ).json
    assert empty["field"] == "document_version_ids"
    assert site.post(f"/change-controls/{change['id']}/submit", "ann").status_code == 403
    site.post(f"/change-controls/{change['id']}/submit", "author", expect=200)
    site.post(f"/change-controls/{change['id']}/submit", "author", expect=409)
    assert (
        site.post(f"/change-controls/{change['id']}/approve", "author", site.sign("author")).status_code
        == 403
    )
    direct = site.post(
        f"/document-versions/{version['id']}/approve",
        "approver",
        {**site.sign("approver"), "effective_at": future()},
        expect=409,
    ).json
    assert direct["error"] == "change_control_required"
    make_user("qa2", "qa_author", "qa_approver")
    site.headers["qa2"] = api_token("qa2")
    v_other = site.post("/documents", "qa2", {"code": "SOP-900", "title": "t"}, expect=201).json
    draft = site.post(
        f"/documents/{v_other['id']}/versions", "qa2", {"label": "1.0", "revision": "major"}, expect=201
    ).json
    site.call(
        "PUT",
        f"/document-versions/{draft['id']}/file",
        "qa2",
        data=b"%PDF-1.4 own",
        content_type="application/pdf",
        expect=200,
    )
    own = site.post(
        "/change-controls",
        "qa2",
        {"title": "own", "effective_at": future(), "document_version_ids": [draft["id"]]},
        expect=201,
    ).json
    site.post(f"/change-controls/{own['id']}/submit", "qa2", expect=200)
    self_approval = site.post(
        f"/change-controls/{own['id']}/approve", "qa2", site.sign("qa2"), expect=403
    ).json
    assert self_approval["error"] == "self_approval_forbidden"
    rejected = site.post(
        f"/change-controls/{own['id']}/reject",
        "approver",
        {**site.sign("approver"), "comment": "incomplete impact"},
        expect=200,
    ).json
    assert rejected["status"] == "rejected" and rejected["affected"][0]["status"] == "draft"
    missing = site.post("/change-controls/999/approve", "approver", site.sign("approver"), expect=404).json
    assert missing["field"] == "change_control_id"


def test_effective_date_gating_blocks_below_threshold(site, db):
    ids = site.ids
    version, change = open_change(site)
    site.post(f"/change-controls/{change['id']}/submit", "author", expect=200)
    site.post(f"/change-controls/{change['id']}/approve", "approver", site.sign("approver"), expect=200)
    item_version_id = site.get(f"/document-versions/{version['id']}")["item_version_id"]
    later = now() + dt.timedelta(days=15)
    # 0 of 2 trained: the 50 % gate blocks the sweep; the old version stays effective.
    assert run_effective_sweep(db, later) == {"effective": [], "blocked": [item_version_id]}
    assert site.get(f"/document-versions/{version['id']}")["status"] == "approved"
    ann_new = next(a for a in site.get("/me/assignments", "ann") if a["version"]["label"] == "2.0")
    site.post(f"/assignments/{ann_new['id']}/sign", "ann", site.sign("ann"), expect=201)
    status = site.get(f"/document-versions/{version['id']}")["training"]
    assert status == {"affected": 2, "trained": 1, "trained_pct": 50.0}
    assert run_effective_sweep(db, later) == {"effective": [item_version_id], "blocked": []}
    versions = {v["label"]: v["status"] for v in site.get(f"/documents/{ids['doc']}")["versions"]}
    assert versions == {"1.0": "superseded", "2.0": "effective"}
    # Bob, trained on nothing current, was past the due date at the sweep; Ann is compliant on 2.0.
    state = {r["item_code"]: r for r in site.get(f"/people/{ids['bob']}/transcript")["requirements"]}
    assert state["SOP-014"]["status"] == "overdue"
    ann_state = site.get(f"/people/{ids['ann']}/transcript")["requirements"][0]
    assert ann_state["status"] == "compliant"


def test_concurrent_approvals_approve_once(site, db):
    import threading

    _version, change = open_change(site)
    site.post(f"/change-controls/{change['id']}/submit", "author", expect=200)
    statuses: list[int] = []

    def approve() -> None:
        client = site.client.application.test_client()
        response = client.post(
            f"/api/v1/change-controls/{change['id']}/approve",
            json=site.sign("approver"),
            headers=site.headers["approver"],
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=approve) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 409]
    with db.read_sessions() as session:
        created = session.scalars(select(Assignment).where(Assignment.source_type == "change_control")).all()
    assert len(created) == 2


def test_open_assignments_on_older_versions_move_to_the_version_in_force(site, db):
    ids = site.ids
    v1_item_version = site.get(f"/document-versions/{ids['v1']}")["item_version_id"]
    manual = site.post(
        "/assignments",
        "trainer",
        {"person_ids": [ids["carl"]], "item_version_id": v1_item_version, "due_at": future(40)},
        expect=201,
    ).json["assignment_ids"][0]
    version, change = open_change(site)
    site.post(f"/change-controls/{change['id']}/submit", "author", expect=200)
    site.post(f"/change-controls/{change['id']}/approve", "approver", site.sign("approver"), expect=200)
    assert site.get(f"/assignments/{manual}")["status"] == "open"  # Carl is outside the matrix
    ann_new = next(a for a in site.get("/me/assignments", "ann") if a["version"]["label"] == "2.0")
    site.post(f"/assignments/{ann_new['id']}/sign", "ann", site.sign("ann"), expect=201)
    item_version_id = site.get(f"/document-versions/{version['id']}")["item_version_id"]
    assert run_effective_sweep(db, now() + dt.timedelta(days=15))["effective"] == [item_version_id]
    old = site.get(f"/assignments/{manual}")
    assert old["status"] == "superseded" and old["superseded_by_id"]
    moved = site.get(f"/assignments/{old['superseded_by_id']}")
    assert moved["item_version_id"] == item_version_id and moved["reason"] == "manual"
    assert moved["person_id"] == ids["carl"] and moved["status"] == "open"
    with db.read_sessions() as session:
        assert audit.history(session, "qms_assignment", manual)[-1].new_values["status"] == "superseded"
