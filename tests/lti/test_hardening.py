"""LTI hardening, each with signed launches over real HTTP: where a Deep Linking response may be
posted, which role URIs count, and what an LMS e-mail may link to.
"""

from __future__ import annotations

import requests
from sqlalchemy import select

from bridge.core import people
from bridge.core.accounts import UserAccount
from bridge.core.audit import AuditEvent
from lti.models import LtiPlatform
from tests.lti.conftest import follow, launch_via_lms, make_sop

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


def audit_rows(db, action: str) -> list[AuditEvent]:
    with db.read_sessions() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def person_id_of(db, issuer: str, sub: str) -> int | None:
    with db.read_sessions() as s:
        person = people.find_person_by_identity(s, "lti", issuer, sub)
        return person.id if person else None


# -- 1. Deep Linking return URL ------------------------------------------------------------------

def test_deep_link_return_url_on_another_origin_is_refused_and_audited(lms, db, make_user):
    sop = make_sop(db, make_user)
    launch = launch_via_lms(lms, "2", kind="deeplink", return_url="https://evil.example/collect")
    assert launch.status_code == 303 and "/deep-link" in launch.headers["Location"]
    picker = follow(lms, launch)
    assert picker.status_code == 403, picker.text[:300]
    assert 'id="check">deep_link_return_url<' in picker.text
    assert "not on an origin registered" in picker.text and "evil.example" not in picker.text
    # Posting the choice anyway signs nothing.
    posted = requests.post(picker.url, data={"items": [str(sop.item_id)]})
    assert posted.status_code == 403 and "id_token" not in posted.text and "JWT" not in posted.text
    assert audit_rows(db, "lti.deep_link_response") == []
    refusals = audit_rows(db, "lti.deep_link_refused")
    assert len(refusals) == 2
    assert refusals[0].new_values["return_url"] == "https://evil.example/collect"
    assert refusals[0].new_values["issuer"] == lms.platform.issuer

    # The platform's own origin is accepted; so is an origin an administrator registered.
    ok = follow(lms, launch_via_lms(lms, "2", kind="deeplink"))
    assert ok.status_code == 200 and "SOP-014" in ok.text
    with db.read_sessions() as s:
        platform_id = s.scalar(select(LtiPlatform.id).where(LtiPlatform.issuer == lms.platform.issuer))
    set_origin = lms.runner.invoke(args=["lti", "platform", "return-origins", str(platform_id),
                                         "https://lms-cdn.example"])
    assert set_origin.exit_code == 0, set_origin.output
    elsewhere = follow(lms, launch_via_lms(lms, "2", kind="deeplink",
                                           return_url="https://lms-cdn.example/return"))
    assert elsewhere.status_code == 200, elsewhere.text[:300]
    # Same host on another scheme or port is another origin.
    for url in ("http://lms-cdn.example/return", "https://lms-cdn.example:8443/return"):
        other = follow(lms, launch_via_lms(lms, "2", kind="deeplink", return_url=url))
        assert other.status_code == 403, url
    bad = lms.runner.invoke(args=["lti", "platform", "return-origins", str(platform_id), "javascript:x"])
    assert bad.exit_code == 1 and "origin" in bad.output


# -- 2. Roles from the LIS vocabulary only ----------------------------------------------------------

def test_roles_from_another_vocabulary_grant_nothing(lms, db):
    lms.platform.state.users["3"].roles = ["https://evil.example/vocab/membership#Instructor"]
    launch = launch_via_lms(lms, "3", link_id="course-home")
    assert launch.status_code == 303
    assert "/course" not in launch.headers["Location"]  # a learner's landing page
    handle_base = lms.tool_base + launch.headers["Location"].rstrip("/")
    assert requests.get(handle_base + "/course").status_code == 403
    picker = follow(lms, launch_via_lms(lms, "3", kind="deeplink"))
    assert picker.status_code == 403 and 'id="check">role_required<' in picker.text
    with db.read_sessions() as s:
        user = s.scalar(select(UserAccount).where(UserAccount.username.like("student1@lti%")))
        assert user.roles == {"learner"}


def test_lis_roles_sub_roles_and_simple_names(lms, db):
    from lti.services import context_roles, is_instructor

    assert context_roles([LIS + "membership#Instructor"]) == {"Instructor"}
    assert context_roles([LIS + "membership/Instructor#TeachingAssistant"]) == {"Instructor"}
    assert context_roles([LIS + "membership/Learner#Instructor"]) == {"Learner"}  # sub-role of Learner
    assert context_roles(["Instructor", "Learner"]) == {"Instructor", "Learner"}  # deprecated simple names
    assert context_roles(["TeachingAssistant", "Boss", "urn:x:membership#Instructor"]) == set()
    assert context_roles([LIS + "membership#Boss", LIS + "membership/Boss#Instructor"]) == set()
    assert context_roles([LIS + "institution/person#Instructor"]) == set()  # not a context role
    assert not is_instructor(["https://evil.example/vocab/membership#Instructor"])
    # A teaching assistant (sub-role URI) opens the course page.
    lms.platform.state.users["3"].roles = [LIS + "membership/Instructor#TeachingAssistant"]
    launch = launch_via_lms(lms, "3", link_id="course-home")
    assert launch.status_code == 303 and launch.headers["Location"].endswith("/course")
    assert follow(lms, launch).status_code == 200
