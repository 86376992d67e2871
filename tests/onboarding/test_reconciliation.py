"""Identity reconciliation: xAPI actors waiting in the inbox and LMS accounts matched to HR people
with the evidence of each match, and a human decision (audited); nothing merges on its own.
"""

from __future__ import annotations

from sqlalchemy import select

from bridge.core.actor import SYSTEM
from bridge.core.audit import AuditEvent
from bridge.core.people import Person, create_person, find_person_by_identity, link_identity
from qms.onboarding.models import IdentityDecision
from tests.bridge.conftest import MOODLE, QUIZ, Bridge, bridge, quiz_session  # noqa: F401 - fixtures


def test_candidates_carry_evidence_and_need_a_decision(bridge, uow_factory, db):  # noqa: F811
    plant = bridge.plant
    hr = plant.post(
        "/people/hire",
        "supervisor",
        {
            "display_name": "Ada Admin",
            "employee_no": "E-77",
            "email": "ada@plant.example",
            "department_id": plant.unit("departments", "HR"),
            "job_function_ids": [plant.unit("job-functions", "ADM")],
        },
        expect=201,
    ).json["person"]["id"]
    # Moodle user 2 ("Admin User") and an HR-keyed xAPI account sent statements nobody is mapped
    # to; an LMS account launched with Ada's name before HR provisioned her.
    bridge.course("GMP-QUIZ", [QUIZ], pass_score=0.8)
    bridge.post_statements(quiz_session())
    statement = {
        "actor": {"account": {"homePage": "https://hr.plant.example", "name": "E-77"}, "name": "Ada Admin"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": QUIZ},
        "result": {"completion": True},
    }
    bridge.post_statements([statement])
    with uow_factory(SYSTEM) as uow:
        lms = create_person(uow.session, "Ada Admin", email="ada.lms@plant.example")
        link_identity(uow.session, lms, "lti", MOODLE, "77")
        uow.commit()
        lms_id = lms.id

    found = plant.get("/identity-matches")
    by_source = {(c["source"], c["person"]["id"]): c for c in found}
    xapi = next(c for c in found if c["source"] == "xapi" and c["source_detail"]["value"] == "E-77")
    assert xapi["person"]["id"] == hr and xapi["evidence"] == ["same_employee_id", "same_name"]
    lti = by_source[("lti", hr)]
    assert lti["source_key"] == f"person:{lms_id}" and lti["evidence"] == ["same_name"]
    # Nothing was linked by proposing.
    with db.read_sessions() as session:
        assert find_person_by_identity(session, "lti", MOODLE, "77").id == lms_id

    body = {
        "source": "lti",
        "source_key": lti["source_key"],
        "person_id": hr,
        "decision": "rejected",
        "reason": "a namesake in another plant",
    }
    plant.post("/identity-matches/decide", "auditor", body, expect=403)
    plant.post("/identity-matches/decide", "supervisor", body, expect=200)
    assert ("lti", hr) not in {(c["source"], c["person"]["id"]) for c in plant.get("/identity-matches")}
    plant.post("/identity-matches/decide", "supervisor", body, expect=404)  # decided already

    accepted = plant.post(
        "/identity-matches/decide",
        "supervisor",
        {
            "source": "xapi",
            "source_key": xapi["source_key"],
            "person_id": hr,
            "decision": "accepted",
            "reason": "the HR account name is her employee id",
        },
        expect=200,
    ).json
    assert accepted["waiting"] == 1
    with db.read_sessions() as session:
        assert find_person_by_identity(session, "xapi_account", "https://hr.plant.example", "E-77").id == hr
        decisions = session.scalars(select(IdentityDecision).order_by(IdentityDecision.id)).all()
        assert [(d.source, d.decision, d.decided_by) for d in decisions] == [
            ("lti", "rejected", "supervisor"),
            ("xapi", "accepted", "supervisor"),
        ]
        actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("identity.%"))))
        assert actions == {"identity.match_rejected", "identity.match_accepted"}
    assert plant.get("/identity-matches/decisions")[0]["decision"] == "accepted"


def test_accepting_an_lms_account_moves_its_launch_identity(bridge, uow_factory, db):  # noqa: F811
    plant = bridge.plant
    hr = plant.post(
        "/people/hire",
        "supervisor",
        {
            "display_name": "Lee Lab",
            "employee_no": "E-5",
            "email": "lee@plant.example",
            "department_id": plant.unit("departments", "QC2"),
            "job_function_ids": [plant.unit("job-functions", "AN")],
        },
        expect=201,
    ).json["person"]["id"]
    with uow_factory(SYSTEM) as uow:
        lms = create_person(uow.session, "Lee Lab")
        lms.email = "lee@plant.example"  # from the launch; the mbox identity is HR's already
        link_identity(uow.session, lms, "lti", MOODLE, "55")
        uow.commit()
        lms_id = lms.id
    match = next(c for c in plant.get("/identity-matches") if c["source"] == "lti")
    assert match["evidence"] == ["same_email", "same_name"] and match["person"]["id"] == hr
    plant.post(
        "/identity-matches/decide",
        "supervisor",
        {
            "source": "lti",
            "source_key": f"person:{lms_id}",
            "person_id": hr,
            "decision": "accepted",
            "reason": "the LMS account is Lee's",
        },
        expect=200,
    )
    with db.read_sessions() as session:
        assert find_person_by_identity(session, "lti", MOODLE, "55").id == hr
        assert session.get(Person, lms_id).active is False
    assert [c for c in plant.get("/identity-matches") if c["source"] == "lti"] == []
