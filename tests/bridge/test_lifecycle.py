"""Mapping later, voiding, duplicates, bad input and the AGS outbox, with hand-written xAPI content."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from bridge.core.actor import SYSTEM
from bridge.core.audit import AuditEvent
from bridge.core.outbox import OutboxMessage
from lti import services as lti_services
from qms.training.evidence_models import Evidence
from tests.bridge.conftest import MOODLE, QUIZ, quiz_session

CONTENT = "https://content.plant.example/xapi/gowning"


def content_statement(mbox: str, verb: str = "completed", **result: Any) -> dict[str, Any]:
    """A statement as an xAPI content package writes it (id chosen by the content)."""
    statement: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": f"mailto:{mbox}"},
        "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}", "display": {"en-US": verb}},
        "object": {"objectType": "Activity", "id": CONTENT},
        "timestamp": "2026-12-03T08:00:00Z",
    }
    if result:
        statement["result"] = result
    return statement


def voiding(target: str) -> dict[str, Any]:
    return {
        "actor": {"mbox": "mailto:qa@plant.example"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided", "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": target},
    }


def test_unknown_actor_mapped_later_applies_its_evidence_once(bridge):
    bridge.course("GMP-QUIZ", [QUIZ], pass_score=0.8)
    quiz = bridge.assign("omar", "GMP-QUIZ")
    ids = bridge.post_statements(quiz_session())
    assert bridge.assignment(quiz)["status"] == "open"
    omar_key = ["xapi_account", MOODLE, "3"]

    body = {
        "kind": omar_key[0],
        "namespace": omar_key[1],
        "value": omar_key[2],
        "person_id": bridge.people["omar"],
        "reason": "Moodle user 3 is Omar",
    }
    mapped = bridge.plant.post("/evidence/unmapped/actors", "supervisor", body, expect=201).json
    # Three statements waited for him; the page's activity is still unknown, so it waits on.
    assert mapped["waiting"] == 3 and len(mapped["evidence_ids"]) == 2
    now = bridge.assignment(quiz)
    assert now["status"] == "completed"
    assert ids[24] in {e["statement_id"] for e in now["evidence"] if e["decision"] == "completed"}
    unmapped = bridge.plant.get("/evidence/unmapped", "auditor")
    assert unmapped["actors"] == []
    assert [(a["activity_iri"], a["statements"]) for a in unmapped["activities"]] == [
        (f"{MOODLE}/mod/page/view.php?id=4", 2)
    ]  # Nina's and Omar's page completions
    # Once: the same statements stored again add nothing; mapping again finds nothing waiting.
    session = quiz_session()
    for statement, statement_id in zip(session, ids, strict=True):
        statement["id"] = statement_id
    bridge.post_statements(session)
    again = bridge.plant.post("/evidence/unmapped/actors", "supervisor", body, expect=201).json
    assert again["waiting"] == 1 and again["evidence_ids"] == []  # only the page, still unknown
    with bridge.plant.client.application.extensions["gxpbridge.db"].read_sessions() as db_session:
        assert (
            db_session.scalar(
                select(func.count()).select_from(Evidence).where(Evidence.person_id == bridge.people["omar"])
            )
            == 2
        )
        assert (
            db_session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "evidence.actor_mapped")
            )
            == 1
        )


def test_unknown_activity_mapped_later_is_e_signed(bridge):
    version = bridge.course("GOWNING", [], requires_signature=False)
    assignment = bridge.assign("stu", "GOWNING")
    statement = content_statement(
        "student1@example.com", success=True, completion=True, score={"raw": 9, "min": 0, "max": 10}
    )
    bridge.post_statements(statement)
    waiting = bridge.plant.get("/evidence/unmapped", "auditor")["activities"]
    assert [(a["activity_iri"], a["statements"]) for a in waiting] == [(CONTENT, 1)]
    body = {
        "activity_iri": CONTENT,
        "item_version_id": version,
        "reason": "the gowning module",
        "username": "author",
        "password": "wrong password!",
    }
    bridge.plant.post("/evidence/unmapped/activities", "author", body, expect=401)
    assert bridge.assignment(assignment)["status"] == "open"
    body["password"] = bridge.plant.sign("author")["password"]
    mapped = bridge.plant.post("/evidence/unmapped/activities", "author", body, expect=201).json
    assert mapped["signature_id"] and len(mapped["evidence_ids"]) == 1
    now = bridge.assignment(assignment)
    assert now["status"] == "completed"
    assert now["evidence"][0]["statement_id"] == statement["id"]
    assert now["evidence"][0]["source"] == "mapping"
    item_version = bridge.plant.get(f"/training-items/{bridge.items['GOWNING']}", "auditor")
    assert CONTENT in str(item_version)


def test_voiding_withdraws_content_complete_evidence(bridge):
    bridge.course("GOWNING", [CONTENT], requires_signature=True)
    assignment = bridge.assign("stu", "GOWNING")
    statement = content_statement("student1@example.com", completion=True)
    bridge.put_statement(statement)
    assert bridge.assignment(assignment)["status"] == "content_complete"
    bridge.post_statements(voiding(statement["id"]))
    now = bridge.assignment(assignment)
    assert now["status"] == "open"
    first, withdrawal = now["evidence"]
    assert first["withdrawn"] is True and withdrawal["decision"] == "withdrawn"
    assert withdrawal["withdraws_id"] == first["id"]
    # Both rows changed a regulated record (the assignment): both are in the audit trail.
    with bridge.plant.client.application.extensions["gxpbridge.db"].read_sessions() as session:
        audited = session.scalars(
            select(AuditEvent.entity_id)
            .where(AuditEvent.entity_type == "qms_evidence")
            .order_by(AuditEvent.seq)
        ).all()
    assert audited == [str(first["id"]), str(withdrawal["id"])]


def test_voiding_after_a_signature_flags_for_review(bridge):
    bridge.course("GOWNING", [CONTENT], requires_signature=True)
    assignment = bridge.assign("ann", "GOWNING")
    bridge.plant.post(
        "/evidence/unmapped/actors",
        "supervisor",
        {
            "kind": "mbox",
            "value": "ann@plant.example",
            "person_id": bridge.people["ann"],
            "reason": "Ann's address",
        },
        expect=201,
    )
    statement = content_statement("ann@plant.example", completion=True)
    bridge.post_statements(statement)
    bridge.plant.post(f"/assignments/{assignment}/sign", "ann", bridge.plant.sign("ann"), expect=201)
    bridge.post_statements(voiding(statement["id"]))
    now = bridge.assignment(assignment)
    assert now["status"] == "completed"
    assert [e["decision"] for e in now["evidence"]] == ["content_complete", "review_required"]
    assert now["evidence"][0]["under_review"] is True and now["evidence"][0]["withdrawn"] is False
    assert [e["statement_id"] for e in bridge.plant.get("/evidence/review", "auditor")] == [
        now["evidence"][1]["statement_id"]
    ]


def test_voiding_statement_before_its_target(bridge):
    bridge.course("GOWNING", [CONTENT])
    assignment = bridge.assign("stu", "GOWNING")
    statement = content_statement("student1@example.com", completion=True)
    bridge.post_statements(voiding(statement["id"]))
    bridge.post_statements(statement)
    now = bridge.assignment(assignment)
    assert now["status"] == "open" and now["evidence"] == []


def test_completion_through_evidence_queues_the_ags_score(bridge, db, uow_factory):
    from bridge.core.actor import SYSTEM
    from lti.models import LtiContext, LtiContextMember, LtiPlatform, LtiResourceLink
    from lti.services import AGS_TOPIC, SCORE_SCOPE

    bridge.course("GMP-QUIZ", [QUIZ], pass_score=0.8)
    quiz = bridge.assign("nina", "GMP-QUIZ")
    # Nina launched the quiz's placement in her Moodle course before (the launch left these rows).
    with uow_factory(SYSTEM) as uow:
        platform = uow.session.scalar(select(LtiPlatform).where(LtiPlatform.issuer == MOODLE))
        course = LtiContext(platform_id=platform.id, context_id="2", deployment_id="1", title="GMP 101")
        uow.session.add(course)
        uow.session.flush()
        uow.session.add_all(
            [
                LtiContextMember(context_pk=course.id, person_id=bridge.people["nina"], subject="4"),
                LtiResourceLink(
                    platform_id=platform.id,
                    deployment_id="1",
                    context_pk=course.id,
                    resource_link_id="quiz-5",
                    training_item_id=bridge.items["GMP-QUIZ"],
                    lineitem_url=f"{MOODLE}/mod/lti/services.php/2/lineitems/7/lineitem",
                    ags_scopes=[SCORE_SCOPE],
                ),
            ]
        )
        uow.commit()
    bridge.post_statements(quiz_session())
    assert bridge.assignment(quiz)["status"] == "completed"
    with db.read_sessions() as session:
        queued = session.scalars(select(OutboxMessage).where(OutboxMessage.topic == AGS_TOPIC)).all()
        assert [(m.payload["user_id"], m.payload["score_given"]) for m in queued] == [("4", 100.0)]


def test_bad_input_is_stored_and_the_decision_recorded(bridge, db):
    bridge.course("GOWNING", [CONTENT], pass_score=0.5)
    assignment = bridge.assign("stu", "GOWNING")
    # A score without min/max, and a failure: stored, recorded, nothing moves.
    no_range = bridge.post_statements(content_statement("student1@example.com", "passed", score={"raw": 80}))
    failed = bridge.post_statements(
        content_statement("student1@example.com", "failed", success=False, score={"scaled": 0.2})
    )
    now = bridge.assignment(assignment)
    assert now["status"] == "open"
    decisions = {e["statement_id"]: (e["decision"], e["reason"]) for e in now["evidence"]}
    assert decisions[no_range[0]][0] == "recorded" and "min and max" in decisions[no_range[0]][1]
    assert decisions[failed[0]][0] == "failed"
    # A person who left: the statement is stored, the evidence refused with the reason.
    bridge.plant.post(
        f"/people/{bridge.people['stu']}/terminate", "supervisor", {"reason": "left"}, expect=200
    )
    left = bridge.post_statements(
        content_statement("student1@example.com", "passed", success=True, score={"scaled": 0.9})
    )
    person_rows = bridge.plant.get(f"/people/{bridge.people['stu']}/evidence", "auditor")
    row = next(e for e in person_rows if e["statement_id"] == left[0])
    assert row["decision"] == "refused" and "inactive" in row["reason"]
    # A negative duration is not valid xAPI: the record store refuses it, nothing is written.
    bad = content_statement("student1@example.com", "passed", success=True, duration="-PT5S")
    response = bridge.plant.client.post("/xapi/statements", json=bad, headers=bridge.xapi_headers)
    assert response.status_code == 400 and response.json["field"] == "statement.result.duration"
    assert (
        bridge.plant.client.get(
            f"/xapi/statements?statementId={bad['id']}", headers=bridge.xapi_headers
        ).status_code
        == 404
    )


def test_an_actor_matching_two_people_waits(bridge, db, uow_factory):
    from bridge.core.actor import SYSTEM
    from bridge.core.people import get_person, link_identity

    bridge.course("GMP-QUIZ", [QUIZ], pass_score=0.8)
    # Omar holds the xAPI account of Moodle user 4, whose LTI identity is Nina's.
    with uow_factory(SYSTEM) as uow:
        link_identity(
            uow.session, get_person(uow.session, bridge.people["omar"]), "xapi_account", MOODLE, "4"
        )
        uow.commit()
    ids = bridge.post_statements(quiz_session())
    waiting = bridge.plant.get("/evidence/unmapped", "auditor")["actors"]
    two = next(a for a in waiting if a["actor_key"] == f"xapi_account|{MOODLE}|4")
    assert "matches 2 people" in two["reason"]
    with db.read_sessions() as session:
        assert (
            session.scalar(select(func.count()).select_from(Evidence).where(Evidence.statement_id.in_(ids)))
            == 0
        )


def test_evidence_on_a_version_that_is_not_the_assigned_one(bridge, uow_factory):
    from bridge.core.actor import SYSTEM
    from qms.documents.models import TrainingItemVersion

    bridge.course("GOWNING", [CONTENT])
    old = bridge.versions["GOWNING"]
    with uow_factory(SYSTEM) as uow:
        uow.session.get(TrainingItemVersion, old).status = "effective"
        uow.commit()
    # Version 2 (a major revision, its own activity) is what Stu is assigned.
    v2 = bridge.plant.post(
        f"/training-items/{bridge.items['GOWNING']}/versions",
        "author",
        {"label": "2", "activity_iris": [CONTENT + "/v2"]},
        expect=201,
    ).json["id"]
    with uow_factory(SYSTEM) as uow:
        uow.session.get(TrainingItemVersion, v2).status = "approved"
        uow.commit()
    bridge.versions["GOWNING-2"] = v2
    assignment = bridge.assign("stu", "GOWNING-2")
    bridge.post_statements(content_statement("student1@example.com", completion=True))
    now = bridge.assignment(assignment)
    assert now["status"] == "open"
    assert now["evidence"][0]["decision"] == "other_version"
    assert now["evidence"][0]["item_version_id"] == old and now["evidence"][0]["assigned_version"] is False


def test_activity_of_a_retired_version_and_a_statement_stored_twice(bridge, db, uow_factory):
    from bridge.core.actor import SYSTEM
    from qms.documents.models import TrainingItemVersion

    version = bridge.course("GOWNING", [CONTENT])
    assignment = bridge.assign("stu", "GOWNING")
    with uow_factory(SYSTEM) as uow:
        uow.session.get(TrainingItemVersion, version).status = "obsolete"
        uow.commit()
    statement = content_statement("student1@example.com", "passed", success=True)
    bridge.put_statement(statement)
    bridge.put_statement(statement)  # the same id and content: stored once, evidence once
    bridge.post_statements([statement, content_statement("student1@example.com", "experienced")])
    rows = bridge.assignment(assignment)["evidence"]
    assert [(e["statement_id"], e["decision"]) for e in rows if e["statement_id"] == statement["id"]] == [
        (statement["id"], "refused")
    ]
    assert "obsolete" in rows[0]["reason"]
    assert bridge.assignment(assignment)["status"] == "open"


def test_evidence_rows_are_append_only(bridge, db):
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    bridge.course("GOWNING", [CONTENT])
    bridge.assign("stu", "GOWNING")
    bridge.post_statements(content_statement("student1@example.com", completion=True))
    for sql in ("UPDATE qms_evidence SET decision = 'failed'", "DELETE FROM qms_evidence"):
        with db.write_sessions() as session, pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(sql))
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Evidence)) == 1


def test_a_learners_first_lti_launch_applies_the_statements_that_waited_for_them(bridge, uow_factory):
    """Moodle sends a new learner's statements before they ever launched the tool: they wait, and
    the launch that provisions the learner (LTI sub 7, the same Moodle user id) makes them evidence.
    """
    bridge.course("GMP-QUIZ", [QUIZ], pass_score=0.8)
    session = [s for s in quiz_session() if s["actor"].get("account", {}).get("name") == "4"]
    for statement in session:
        statement["actor"]["account"]["name"] = "7"
        statement["actor"]["name"] = "Lena Learner"
    ids = bridge.post_statements(session)
    key = f"xapi_account|{MOODLE}|7"
    assert key in {a["actor_key"] for a in bridge.plant.get("/evidence/unmapped", "auditor")["actors"]}

    with uow_factory(SYSTEM) as uow:
        platform = next(p for p in lti_services.list_platforms(uow.session) if p.issuer == MOODLE)
        person, _user = lti_services.provision_person(
            uow, platform, lti_services.Identity(sub="7", name="Lena Learner", email=None, lti_roles=[])
        )
        uow.commit()
        person_id = person.id

    assert key not in {a["actor_key"] for a in bridge.plant.get("/evidence/unmapped", "auditor")["actors"]}
    transcript = bridge.plant.get(f"/people/{person_id}/transcript", "auditor")
    decisions = {e["statement_id"]: e["decision"] for e in transcript["evidence"]}
    # The quiz's course-module completion and its attempt; the page's activity is still unknown.
    assert len(decisions) == 2 and set(decisions) <= set(ids)
    assert set(decisions.values()) == {"recorded"}  # no assignment yet: kept and shown, moves nothing
    with bridge.plant.client.application.extensions["gxpbridge.db"].read_sessions() as db_session:
        applied = db_session.scalar(
            select(func.count()).select_from(AuditEvent).where(
                AuditEvent.entity_type == "qms_evidence", AuditEvent.action == "create"))
        assert applied >= 1  # evidence applied by a mapping is audited


def test_hiring_a_person_by_e_mail_applies_the_statements_that_waited_for_them(bridge):
    """Content sent a new hire's completion (by e-mail) before HR recorded them: the hire that
    records the e-mail makes it evidence, on the assignment the hire itself created.
    """
    version = bridge.course("GOWNING", [CONTENT])
    job = bridge.plant.unit("job-functions", "GOWN")
    bridge.plant.post("/requirements", "author",
                      {"scope": "job_function", "scope_id": job, "training_item_id": bridge.items["GOWNING"]},
                      expect=201)
    statement = content_statement("paula@plant.example", success=True, completion=True)
    bridge.post_statements([statement])
    hired = bridge.plant.post(
        "/people/hire",
        "supervisor",
        {"display_name": "Paula Prestart", "email": "paula@plant.example",
         "department_id": bridge.plant.unit("departments", "STERILE"), "job_function_ids": [job]},
        expect=201,
    ).json
    person_id = hired["person"]["id"]
    assignments = bridge.plant.get(f"/assignments?person_id={person_id}", "auditor")
    gowning = next(a for a in assignments if a["item_version_id"] == version)
    now = bridge.assignment(gowning["id"])
    assert now["status"] == "completed"
    assert [e["statement_id"] for e in now["evidence"]] == [statement["id"]]
