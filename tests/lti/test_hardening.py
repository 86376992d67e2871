"""LTI hardening, each with signed launches over real HTTP: where a Deep Linking response may be
posted, which role URIs count, and what an LMS e-mail may link to.
"""

from __future__ import annotations

import re

import requests
from sqlalchemy import select

from bridge.core import people
from bridge.core.accounts import UserAccount
from bridge.core.audit import AuditEvent
from lti.models import LtiIdentityMatch, LtiPlatform
from tests.conftest import TEST_PASSWORD
from tests.lti.conftest import assign, follow, launch_via_lms, make_sop
from tests.lti.platform import INSTRUCTOR

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


# -- 3. Linking an LMS identity to an existing person ---------------------------------------------------

def test_email_of_a_console_account_needs_its_password(lms, db, make_user):
    """A launch whose e-mail (any case) is the administrator's does not see their training."""
    admin = make_user("chief", "administrator", name="Chief Administrator", email="chief@example.com")
    sop = make_sop(db, make_user)
    assign(db, admin.person_id, sop.item_version_id)
    lms.platform.add_user("7", "Mallory", "CHIEF@Example.com", [INSTRUCTOR])
    browser = requests.Session()
    launch = launch_via_lms(lms, "7", browser, link_id="home")
    page = follow(lms, launch, browser)
    learner_person = person_id_of(db, lms.platform.issuer, "7")
    assert learner_person is not None and learner_person != admin.person_id
    home = browser.get(page.url.split("/course")[0] + "/")
    assert "SOP-014" not in home.text and "To do (0)" in home.text
    assert "sign in once with your GxP Bridge password" in home.text
    [match] = match_rows(db)
    assert (match.status, match.candidate_person_id, match.launch_person_id) == (
        "pending", admin.person_id, learner_person)
    [pending] = audit_rows(db, "lti.identity_match_pending")
    assert pending.new_values["email"] == "chief@example.com"
    assert pending.new_values["candidate_person_id"] == admin.person_id
    handle_base = home.url.rstrip("/")

    # A wrong password links nothing and counts toward the lockout.
    wrong = browser.post(handle_base + "/link", data={"username": "chief", "password": "Not-The-Password-1"})
    assert wrong.status_code == 401 and "wrong user name or password" in wrong.text
    assert person_id_of(db, lms.platform.issuer, "7") == learner_person
    with db.read_sessions() as s:
        assert s.scalar(select(UserAccount.failed_attempts).where(UserAccount.username == "chief")) == 1
    # Another account's valid password is not proof for this match, and the answer is the same
    # as for a wrong password (no hint which account matched); its lockout counter is untouched.
    make_user("bystander", "learner", email="bystander@example.com")
    stranger = browser.post(handle_base + "/link", data={"username": "bystander", "password": TEST_PASSWORD})
    assert stranger.status_code == 401 and "wrong user name or password" in stranger.text
    unknown = browser.post(handle_base + "/link", data={"username": "nobody", "password": TEST_PASSWORD})
    assert unknown.status_code == 401 and unknown.text == stranger.text
    assert person_id_of(db, lms.platform.issuer, "7") == learner_person
    with db.read_sessions() as s:
        assert s.scalar(select(UserAccount.failed_attempts).where(UserAccount.username == "bystander")) == 0

    # The person's own password links the identity, audited with its evidence.
    linked = browser.post(handle_base + "/link", data={"username": "chief", "password": TEST_PASSWORD},
                          allow_redirects=False)
    assert linked.status_code == 303, linked.text[:300]
    assert person_id_of(db, lms.platform.issuer, "7") == admin.person_id
    [link] = audit_rows(db, "lti.identity_linked")
    assert link.entity_id == str(admin.person_id)
    assert link.new_values["evidence"]["method"] == "password"
    assert link.new_values["evidence"]["username"] == "chief"
    assert link.new_values["evidence"]["email"] == "chief@example.com"
    assert link.new_values["from_person_id"] == learner_person
    [match] = match_rows(db)
    assert (match.status, match.method, match.resolved_by) == ("linked", "password", "chief")
    mine = browser.get(handle_base + "/")
    assert "SOP-014" in mine.text and "sign in once" not in mine.text
    with db.read_sessions() as s:
        person = s.get(people.Person, admin.person_id)
        assert person.display_name == "Chief Administrator"  # never the LMS's "Mallory"
        chief = s.scalar(select(UserAccount).where(UserAccount.username == "chief"))
        assert chief.roles == {"administrator"}
        assert s.get(people.Person, learner_person).active is False
    # The next launch finds the person by the LMS identity; the name stays.
    again = follow(lms, launch_via_lms(lms, "7", link_id="home"))
    assert again.status_code == 200 and "Chief Administrator" in again.text


def test_email_of_a_person_qa_recorded_waits_for_qa(lms, db, make_user, uow_factory):
    """QA hired the person first (no account): the match is confirmed by QA, not by the e-mail."""
    with uow_factory() as uow:
        hired = people.create_person(uow.session, "Stuart Dent", email="student1@example.com")
        uow.commit()
    sop = make_sop(db, make_user)
    assign(db, hired.id, sop.item_version_id)
    page = follow(lms, launch_via_lms(lms, "3"))
    assert "SOP-014" not in page.text and "Quality Assurance" in page.text
    own = person_id_of(db, lms.platform.issuer, "3")
    assert own != hired.id
    listing = lms.runner.invoke(args=["lti", "identity", "list"])
    assert listing.exit_code == 0, listing.output
    [match] = match_rows(db)
    assert f"{match.id}\t" in listing.output and "student1@example.com" in listing.output
    no_reason = lms.runner.invoke(args=["lti", "identity", "confirm", str(match.id)])
    assert no_reason.exit_code == 2
    confirmed = lms.runner.invoke(args=["lti", "identity", "confirm", str(match.id),
                                        "--reason", "checked against the HR record"])
    assert confirmed.exit_code == 0, confirmed.output
    assert person_id_of(db, lms.platform.issuer, "3") == hired.id
    [link] = audit_rows(db, "lti.identity_linked")
    assert link.new_values["evidence"]["method"] == "qa"
    assert link.reason == "checked against the HR record"
    page = follow(lms, launch_via_lms(lms, "3"))
    assert "SOP-014" in page.text and "To do (1)" in page.text
    with db.read_sessions() as s:
        assert s.get(people.Person, hired.id).display_name == "Stuart Dent"  # not "Stu Dent"
    twice = lms.runner.invoke(args=["lti", "identity", "confirm", str(match.id), "--reason", "again"])
    assert twice.exit_code == 1


def test_qa_rejects_a_match(lms, db, uow_factory):
    with uow_factory() as uow:
        hired = people.create_person(uow.session, "Another Stu", email="student1@example.com")
        uow.commit()
    assert launch_via_lms(lms, "3").status_code == 303
    [match] = match_rows(db)
    rejected = lms.runner.invoke(args=["lti", "identity", "reject", str(match.id), "--reason", "namesake"])
    assert rejected.exit_code == 0, rejected.output
    page = follow(lms, launch_via_lms(lms, "3"))
    assert "Quality Assurance" not in page.text and "sign in once" not in page.text
    assert person_id_of(db, lms.platform.issuer, "3") != hired.id
    [match] = match_rows(db)
    assert match.status == "rejected"


def test_the_lms_fills_a_missing_name_but_never_replaces_one(lms, db):
    lms.platform.add_user("8", "", "", ["Learner"])
    assert launch_via_lms(lms, "8").status_code == 303
    person_id = person_id_of(db, lms.platform.issuer, "8")
    with db.read_sessions() as s:
        assert s.get(people.Person, person_id).display_name == "LMS user 8"
    lms.platform.state.users["8"].name = "Nina Newcomer"
    assert launch_via_lms(lms, "8").status_code == 303
    lms.platform.state.users["8"].name = "Somebody Else"
    assert launch_via_lms(lms, "8").status_code == 303
    with db.read_sessions() as s:
        assert s.get(people.Person, person_id).display_name == "Nina Newcomer"


def match_rows(db) -> list[LtiIdentityMatch]:
    with db.read_sessions() as s:
        return list(s.scalars(select(LtiIdentityMatch).order_by(LtiIdentityMatch.id)))


def test_handle_pages_offer_the_link_form(lms, db, make_user):
    make_user("robin", "qa_approver", name="Robin Approver", email="student1@example.com")
    page = follow(lms, launch_via_lms(lms, "3"))
    form = re.search(r'<form method="post" action="([^"]+/link)"', page.text)
    assert form, page.text[:500]
    assert requests.get(lms.tool_base + form.group(1)).status_code == 200


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _sign_in(client, username: str) -> None:
    token = _csrf(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"csrf_token": token, "username": username,
                                           "password": TEST_PASSWORD})
    assert response.status_code == 302


def test_qa_confirms_a_match_in_the_console(lms, db, make_user, uow_factory, app):
    with uow_factory() as uow:
        hired = people.create_person(uow.session, "Stuart Dent", email="student1@example.com")
        uow.commit()
    assert launch_via_lms(lms, "3").status_code == 303
    [match] = match_rows(db)
    client = app.test_client()
    assert client.get("/console/lti/account-matches").status_code == 302  # sign in first
    assert client.get("/lti/admin/identities").status_code == 301  # the former page
    make_user("trainee", "learner")
    _sign_in(client, "trainee")
    assert client.get("/console/lti/account-matches").status_code == 403
    client = app.test_client()
    make_user("quality", "qa_approver")
    _sign_in(client, "quality")
    page = client.get("/console/lti/account-matches").get_data(as_text=True)
    assert "student1@example.com" in page and "Stuart Dent" in page
    form = {"csrf_token": _csrf(page), "reason": ""}
    url = f"/console/lti/account-matches/{match.id}/confirm"
    blank = client.post(url, data=form, follow_redirects=True,
                        headers={"Referer": "http://localhost/console/lti/account-matches"})
    assert "needs a reason" in blank.get_data(as_text=True)
    assert person_id_of(db, lms.platform.issuer, "3") != hired.id
    done = client.post(url, data=form | {"reason": "badge photo matches"}, follow_redirects=True)
    assert done.status_code == 200 and "confirmed" in done.get_data(as_text=True)
    assert person_id_of(db, lms.platform.issuer, "3") == hired.id
    [link] = audit_rows(db, "lti.identity_linked")
    assert link.actor_username == "quality" and link.new_values["evidence"]["confirmed_by"] == "quality"
    assert link.reason == "badge photo matches"
