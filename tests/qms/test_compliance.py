"""Compliance: the as-of rule, periodic retraining, overdue, the matrix report, OpenAPI, demo."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from bridge.core.actor import SYSTEM
from qms.training import due_dates
from qms.training import services as training
from qms.training import state as compliance_state
from qms.training.models import Assignment, Completion, ComplianceState
from tests.qms.conftest import now


def at(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_as_of_rule_across_minor_and_major_revisions(plant, db):
    prod = plant.unit("departments", "PROD")
    op = plant.unit("job-functions", "OP")
    doc = plant.document("SOP-42")
    plant.post(
        "/requirements",
        "author",
        {"scope": "job_function", "scope_id": op, "training_item_id": doc["training_item_id"]},
        expect=201,
    )
    plant.publish(doc["id"])
    before_hire = now()
    ann = plant.hire("Ann", prod, [op], person_id=plant.people["ann"])["person"]["id"]
    untrained = now()
    assignment = plant.get("/me/assignments", "ann")[0]
    plant.post(f"/assignments/{assignment['id']}/sign", "ann", plant.sign("ann"), expect=201)
    trained = now()
    plant.publish(doc["id"], "1.1", "minor", change_summary="typo")
    after_minor = now()
    plant.publish(doc["id"], "2.0", "major")
    after_major = now()

    def ask(moment):
        return plant.get(f"/people/{ann}/compliance?at={at(moment)}")

    assert ask(before_hire)["employed"] is False and ask(before_hire)["qualified"] is False
    first = ask(untrained)
    assert first["employed"] and not first["qualified"]
    assert first["requirements"][0]["version_in_force_label"] == "1.0"
    assert "no completion on version 1.0" in first["requirements"][0]["explanation"]
    assert ask(trained)["qualified"] is True
    minor = ask(after_minor)
    assert minor["qualified"] and minor["requirements"][0]["version_in_force_label"] == "1.1"
    assert minor["requirements"][0]["completed_version_label"] == "1.0"
    major = ask(after_major)
    assert not major["qualified"] and major["requirements"][0]["version_in_force_label"] == "2.0"
    # The past does not change: still qualified at the moment she had signed.
    assert ask(trained)["qualified"] is True
    document = plant.get(f"/documents/{doc['id']}/compliance?at={at(after_minor)}")
    assert document["required"] == 1 and document["trained"] == 1
    assert plant.get(f"/documents/{doc['id']}/compliance?at={at(after_major)}")["trained"] == 0
    department = plant.get(f"/departments/{prod}/compliance?at={at(trained)}")
    assert department["members"] == 1 and department["qualified"] == 1
    own = plant.get(f"/people/{ann}/compliance?at={at(trained)}", "ann")
    assert own["qualified"] is True
    assert plant.call("GET", f"/people/{ann}/compliance?at={at(trained)}", "bob").status_code == 403
    naive = plant.get(f"/people/{ann}/compliance?at=2026-03-14T09:00:00", expect=400)
    assert naive["field"] == "at" and naive["error"] == "invalid_query"
    assert plant.get(f"/people/{ann}/compliance", expect=400)["field"] == "at"
    # The maintained state agrees with the as-of rule now (2.0 was due by its effective date).
    state = plant.get(f"/people/{ann}/transcript")["requirements"][0]
    assert state["status"] == "overdue"


def test_periodic_retraining_and_overdue_sweeps(plant, db, uow_factory):
    prod = plant.unit("departments", "PROD")
    op = plant.unit("job-functions", "OP")
    doc = plant.document("SOP-50")
    plant.publish(doc["id"])
    requirement = plant.post(
        "/requirements",
        "author",
        {
            "scope": "department",
            "scope_id": prod,
            "training_item_id": doc["training_item_id"],
            "retrain_interval_days": 100,
            "grace_days": 10,
        },
        expect=201,
    ).json
    ann = plant.hire("Ann", prod, [op], person_id=plant.people["ann"])["person"]["id"]
    bob = plant.hire("Bob", prod, [op], person_id=plant.people["bob"])["person"]["id"]
    assignment = plant.get("/me/assignments", "ann")[0]
    plant.post(f"/assignments/{assignment['id']}/sign", "ann", plant.sign("ann"), expect=201)
    today = now()
    with uow_factory(SYSTEM) as uow:
        assert due_dates.periodic_sweep(uow, now=today + dt.timedelta(days=1)) == []
        created = due_dates.periodic_sweep(uow, now=today + dt.timedelta(days=80))
        assert len(created) == 1
        # Bob never trained: 30 days later his assignment is overdue.
        assert due_dates.overdue_sweep(uow, now=today + dt.timedelta(days=31)) == 1
        uow.commit()
    with uow_factory(SYSTEM) as uow:
        assert due_dates.periodic_sweep(uow, now=today + dt.timedelta(days=81)) == []  # already assigned
        uow.commit()
    with db.read_sessions() as session:
        periodic = session.get(Assignment, created[0])
        assert periodic.reason == "periodic" and periodic.person_id == ann
        assert periodic.source_type == "requirement" and periodic.source_id == requirement["id"]
        completed_at = session.scalar(select(Completion.completed_at).where(Completion.person_id == ann))
        assert abs((periodic.due_at - (completed_at + dt.timedelta(days=100))).total_seconds()) < 1
        bob_state = session.scalar(select(ComplianceState).where(ComplianceState.person_id == bob))
        assert bob_state.status == "overdue"
        bob_assignment = session.scalar(select(Assignment).where(Assignment.person_id == bob))
        assert bob_assignment.status == "overdue"
        report = training.matrix_report(session, now=today + dt.timedelta(days=105))
        assert report["totals"] == {
            "pairs": 2,
            "compliant": 1,
            "overdue": 1,
            "exempt": 0,
            "not_in_force": 0,
            "compliance_pct": 50.0,
        }
        lapsed = training.matrix_report(session, now=today + dt.timedelta(days=111))
        assert lapsed["totals"]["compliant"] == 0 and lapsed["totals"]["overdue"] == 2
        row = lapsed["rows"][0]
        assert row["department"] == "PROD" and row["job_function"] is None
    # Ann's periodic assignment shows in her list with the version and content.
    mine = plant.get("/me/assignments", "ann")
    assert next(a["reason"] for a in mine) == "periodic"


def test_matrix_report_by_department_and_job_function(plant):
    prod = plant.unit("departments", "PROD")
    qc = plant.unit("departments", "QC")
    op = plant.unit("job-functions", "OP")
    doc = plant.document("SOP-60")
    plant.publish(doc["id"])
    plant.post(
        "/requirements",
        "author",
        {"scope": "job_function", "scope_id": op, "training_item_id": doc["training_item_id"]},
        expect=201,
    )
    plant.hire("Ann", prod, [op], person_id=plant.people["ann"])
    plant.hire("Bob", qc, [op], person_id=plant.people["bob"])
    assignment = plant.get("/me/assignments", "ann")[0]
    plant.post(f"/assignments/{assignment['id']}/sign", "ann", plant.sign("ann"), expect=201)
    report = plant.get("/matrix/compliance")
    rows = {(r["department"], r["job_function"]): r for r in report["rows"]}
    assert rows[("PROD", "OP")]["compliance_pct"] == 100.0 and rows[("QC", "OP")]["due"] == 1
    assert report["totals"]["compliance_pct"] == 50.0
    only_qc = plant.get(f"/matrix/compliance?department_id={qc}")
    assert [r["department"] for r in only_qc["rows"]] == ["QC"]
    status = plant.get(f"/documents/{doc['id']}/training-status")
    assert status["state_counts"] == {"compliant": 1, "due": 1}
    assert plant.call("GET", "/matrix/compliance", "ann").status_code == 403


def test_openapi_describes_every_endpoint(plant, app):
    spec = plant.client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("qms_api."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            served.update((path, m) for m in rule.methods - {"HEAD", "OPTIONS"})
    assert served and served == documented
    approve = spec["paths"]["/api/v1/change-controls/{change_control_id}/approve"]["post"]
    body = approve["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert set(spec["components"]["schemas"][body]["required"]) == {"username", "password"}
    assert spec["components"]["schemas"][body]["additionalProperties"] is False
    assert {"400", "401", "403", "404", "409"} <= set(approve["responses"])


def test_openapi_lists_are_arrays(plant):
    spec = plant.client.get("/api/v1/openapi.json").json
    listing = spec["paths"]["/api/v1/documents"]["get"]["responses"]["200"]["content"]["application/json"]
    assert listing["schema"]["type"] == "array"
    one = spec["paths"]["/api/v1/documents/{document_id}"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]
    assert one["schema"]["type"] == "object"


def test_state_refresh_in_batches_matches(plant, uow_factory, monkeypatch):
    prod = plant.unit("departments", "PROD")
    op = plant.unit("job-functions", "OP")
    doc = plant.document("SOP-70")
    plant.publish(doc["id"])
    plant.post(
        "/requirements",
        "author",
        {"scope": "department", "scope_id": prod, "training_item_id": doc["training_item_id"]},
        expect=201,
    )
    people = [plant.hire(n, prod, [op], person_id=plant.people[n])["person"]["id"] for n in ("ann", "bob")]
    assignment = plant.get("/me/assignments", "ann")[0]
    plant.post(f"/assignments/{assignment['id']}/sign", "ann", plant.sign("ann"), expect=201)
    monkeypatch.setattr(compliance_state, "REFRESH_BATCH", 1)
    with uow_factory(SYSTEM) as uow:
        moment = uow.clock.now()
        assert compliance_state.refresh_states(uow.session, person_ids=people, now=moment) == 0  # current
        uow.session.execute(ComplianceState.__table__.update().values(status="due", trained_version_id=None))
        assert compliance_state.refresh_states(uow.session, person_ids=people, now=moment) == 1  # restored
        uow.commit()
    statuses = {r["department"]: r for r in plant.get("/matrix/compliance")["rows"]}
    assert statuses["PROD"]["compliant"] == 1 and statuses["PROD"]["due"] == 1


def test_openapi_document_is_valid_openapi_3_1(plant):
    from openapi_spec_validator import validate

    validate(plant.client.get("/api/v1/openapi.json").json)
