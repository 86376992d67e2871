"""SCIM Bulk: a run of plain user creations is made together (``qms.provisioning.bulk_users``)
with exactly what one-by-one creation makes, and the operations that are not plain keep their
place in the order.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from bridge.core.audit import AuditEvent
from bridge.core.people import Person, PersonIdentity
from qms.org.models import Employment, PersonDepartment, PersonJobFunction
from qms.provisioning.models import ScimUser
from qms.training.models import Assignment
from tests.onboarding import test_scim

site = test_scim.site  # the plant with its departments, job function and requirements (fixture)
_user = test_scim._user

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def _bulk(scim, operations: list[dict]) -> list[dict]:
    return scim("POST", "/Bulk", {"schemas": [BULK], "Operations": operations}, expect=200).json["Operations"]


def _mail(local: str) -> list[dict]:
    return [{"value": f"{local}@plant.example", "primary": True, "type": "work"}]


def _made(session, number: str) -> dict:
    """What creating the user with employee number ``number`` made, ids and moments left out."""
    person = session.scalar(select(Person).where(Person.employee_no == number))
    pid = person.id
    identities = session.scalars(select(PersonIdentity).where(PersonIdentity.person_id == pid)).all()
    employments = session.scalars(select(Employment).where(Employment.person_id == pid)).all()
    departments = session.scalars(select(PersonDepartment).where(PersonDepartment.person_id == pid)).all()
    user = session.scalar(select(ScimUser).where(ScimUser.person_id == person.id))
    entities = {
        ("person", str(person.id)),
        ("qms_scim_user", str(user.id)),
        *(("person_identity", str(i.id)) for i in identities),
        *(("qms_employment", str(e.id)) for e in employments),
        *(("qms_person_department", str(d.id)) for d in departments),
    }
    audited = Counter(
        (a.entity_type, a.action, a.reason, tuple(sorted(a.new_values or {})))
        for a in session.scalars(select(AuditEvent))
        if (a.entity_type, a.entity_id) in entities
    )
    return {
        "person": (person.display_name, person.email, person.active),
        "identities": sorted((i.kind, i.namespace) for i in identities),
        "employments": len(employments),
        "departments": sorted(d.department_id for d in departments),
        "user": (user.user_name.split(".")[0], user.version, sorted(user.resource), user.deleted_at),
        "audited": audited,
        "assignments": len(session.scalars(select(Assignment.id).where(Assignment.person_id == pid)).all()),
    }


def test_users_made_together_are_made_as_one_by_one(site, scim, db):
    one = [scim("POST", "/Users", _user(f"one.{n}", "PROD", f"S-{n}"), expect=201).json for n in range(3)]
    answers = _bulk(
        scim,
        [
            {"method": "POST", "path": "/Users", "bulkId": f"b{n}", "data": _user(f"b.{n}", "PROD", f"B-{n}")}
            for n in range(3)
        ],
    )
    assert [a["status"] for a in answers] == ["201"] * 3
    assert [a["bulkId"] for a in answers] == ["b0", "b1", "b2"]
    served = scim("GET", answers[1]["location"].split("/scim/v2", 1)[1], expect=200).json
    assert served["userName"] == "b.1" and served["id"] == answers[1]["location"].rsplit("/", 1)[1]
    with db.read_sessions() as session:
        for n in range(3):
            alone, together = _made(session, f"S-{n}"), _made(session, f"B-{n}")
            # The same rows (e-mail identity and its SHA-1, employment, department, SCIM user) and
            # the same audit rows with the same reasons; the names differ only by their prefix.
            assert together["identities"] == alone["identities"] == [("mbox", ""), ("mbox_sha1sum", "")]
            assert together["audited"] == alone["audited"]
            for key in ("employments", "departments", "assignments"):
                assert together[key] == alone[key], key
            assert together["user"][1:] == alone["user"][1:]
            assert together["person"][2] is True
    assert [u["userName"] for u in one] == ["one.0", "one.1", "one.2"]


def test_users_not_plain_keep_their_place(site, scim, db):
    existing = scim("POST", "/Users", _user("kept.user", "QC", "K-1"), expect=201).json
    answers = _bulk(
        scim,
        [
            {"method": "POST", "path": "/Users", "data": data}
            for data in (
                _user("first.one", "PROD", "F-1"),
                # The same userName as a live user already provisioned (another e-mail): refused.
                _user("kept.user", "PROD", "F-2", emails=_mail("f2")),
                _user("second.one", "PROD", "F-3"),
                # The same userName twice in the run (other e-mails): the first in order is made.
                _user("twice.over", "PROD", "F-4"),
                _user("twice.over", "QC", "F-5", emails=_mail("f5")),
                # Inactive from the start: made one by one (a leave), in its place.
                _user("on.leave", "QC", "F-6", active=False),
                _user("third.one", "QC", "F-7"),
            )
        ],
    )
    assert [a["status"] for a in answers] == ["201", "409", "201", "201", "409", "201", "201"]
    assert answers[1]["response"]["scimType"] == answers[4]["response"]["scimType"] == "uniqueness"
    with db.read_sessions() as session:
        numbers = set(session.scalars(select(Person.employee_no).where(Person.employee_no.like("F-%"))))
        assert numbers == {"F-1", "F-3", "F-4", "F-6", "F-7"}
        twice = session.scalar(select(ScimUser).where(ScimUser.user_name == "twice.over"))
        first = session.scalar(select(Person).where(Person.employee_no == "F-4"))
        assert twice.person_id == first.id
        assert len(session.scalars(select(ScimUser).where(ScimUser.user_name == "kept.user")).all()) == 1
    assert existing["userName"] == "kept.user"


def test_group_members_terminated_or_already_holding(site, scim, db):
    """Joining a group: a person terminated meanwhile gets no job function, one who already holds
    it keeps one membership (both read for all the members at once)."""
    made = _bulk(
        scim,
        [
            {"method": "POST", "path": "/Users", "data": _user(f"member.{n}", "PROD", f"M-{n}")}
            for n in range(3)
        ],
    )
    scim_ids = [a["location"].rsplit("/", 1)[1] for a in made]
    with db.read_sessions() as session:
        people = [session.scalar(select(Person.id).where(Person.employee_no == f"M-{n}")) for n in range(3)]
    site.post(
        f"/people/{people[1]}/role-change",
        "supervisor",
        {"job_function_ids": [site.ids["op"]], "reason": "already an operator"},
        expect=200,
    )
    site.post(f"/people/{people[2]}/terminate", "supervisor", {"reason": "left"}, expect=200)
    group = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "OPERATOR",
        "members": [{"value": sid} for sid in scim_ids],
    }
    scim("POST", "/Groups", group, expect=201)
    with db.read_sessions() as session:
        held = Counter(
            session.scalars(
                select(PersonJobFunction.person_id).where(
                    PersonJobFunction.job_function_id == site.ids["op"], PersonJobFunction.valid_to.is_(None)
                )
            )
        )
    assert held == {people[0]: 1, people[1]: 1}
