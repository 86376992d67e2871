"""End to end over real HTTP with the lti1p3platform LMS: an instructor deep-links a training
item, a learner launches it, signs read-and-understood, and the score reaches the gradebook.
"""

from __future__ import annotations

import re

import requests
from sqlalchemy import select

from bridge.core import outbox, people
from bridge.core.accounts import UserAccount
from bridge.core.audit import AuditEvent
from lti.models import LtiContextMember, LtiLaunch, LtiResourceLink
from tests.conftest import TEST_PASSWORD
from tests.lti.conftest import PDF, assign, auto_form, follow, launch_via_lms, make_sop
from tests.lti.platform import LEARNER

SIGNING_PASSWORD = "Signing-Pass-2026!"


def person_of(db, issuer: str, sub: str):
    with db.read_sessions() as s:
        person = people.find_person_by_identity(s, "lti", issuer, sub)
        return person and (person.id, person.display_name, person.email,
                           sorted((i.kind, i.namespace, i.value) for i in person.identities))


def relay(db) -> tuple[int, int]:
    return outbox.relay_once(db, max_attempts=5)


def test_learner_launch_deep_link_sign_and_gradebook(lms, db, make_user):
    platform = lms.platform
    browser = requests.Session()

    # 1. First launch from the course: the learner is provisioned, the xAPI account linked.
    first = launch_via_lms(lms, "3", browser)
    assert first.status_code == 303
    page = follow(lms, first, browser)
    assert page.status_code == 200 and "My training" in page.text
    person_id, name, email, identities = person_of(db, platform.issuer, "3")
    assert name == "Stu Dent" and email == "student1@example.com"
    assert ("lti", platform.issuer, "3") in identities
    assert ("xapi_account", platform.issuer, "3") in identities  # Moodle: home page = its URL
    assert ("mbox", "", "mailto:student1@example.com") in identities
    with db.read_sessions() as s:
        user = s.scalar(select(UserAccount).where(UserAccount.person_id == person_id))
        assert user.roles == {"learner"} and user.password_hash is None

    # The roster sync the launch asked for runs in the worker and provisions the instructor.
    sent, failed = relay(db)
    assert (sent, failed) == (1, 0)
    assert person_of(db, platform.issuer, "2") is not None

    # 2. QA publishes SOP-014 1.0 and assigns it to the learner.
    sop = make_sop(db, make_user)
    assign(db, person_id, sop.item_version_id)
    page = browser.get(page.url)
    assert "SOP-014" in page.text and "To do (1)" in page.text

    # 3. The instructor places SOP-014 in the course (Deep Linking with a line item).
    dl = launch_via_lms(lms, "2", kind="deeplink")
    assert dl.status_code == 303 and "/deep-link" in dl.headers["Location"]
    picker = follow(lms, dl)
    assert picker.status_code == 200 and "SOP-014" in picker.text
    answer = requests.post(picker.url, data={"items": [str(sop.item_id)]})
    assert answer.status_code == 200
    action, fields = auto_form(answer)
    assert action == platform.base + "/deep-link-return"
    added = requests.post(action, data=fields)
    assert added.status_code == 200, added.text
    [placed] = platform.state.deep_link_items
    assert placed["custom"] == {"gxp_training_item": str(sop.item_id)}
    assert placed["lineItem"]["scoreMaximum"] == 100 and placed["lineitem_url"]

    # 4. The learner opens the placed activity: the item page with its controlled file.
    launch = launch_via_lms(lms, "3", browser, link_id=placed["link_id"], custom=placed["custom"],
                            lineitem=placed["lineitem_url"], title=placed["title"])
    item_page = follow(lms, launch, browser)
    assert item_page.status_code == 200 and "Gowning procedure" in item_page.text
    file_url = re.search(r'href="([^"]+/file)"', item_page.text).group(1)
    document = browser.get(lms.tool_base + file_url)
    assert document.status_code == 200 and document.content == PDF
    assert "Set your signing password" in item_page.text
    handle_base = item_page.url.split("/items/")[0]

    # 5. First use: the signing password (policy checked), then the signature.
    weak = browser.post(handle_base + "/signing-password", data={"password": "short", "confirm": "short",
                                                                  "item": sop.item_id})
    assert weak.status_code == 400 and "at least 12 characters" in weak.text
    done = browser.post(handle_base + "/signing-password",
                        data={"password": SIGNING_PASSWORD, "confirm": SIGNING_PASSWORD, "item": sop.item_id})
    assert done.status_code == 200 and 'name="password"' in done.text
    assignment_id = re.search(r'/assignments/(\d+)/sign', done.text).group(1)
    wrong = browser.post(f"{handle_base}/assignments/{assignment_id}/sign",
                         data={"password": "Not-The-Password-1", "confirm": "yes", "item": sop.item_id})
    assert wrong.status_code == 401 and "wrong password" in wrong.text
    unticked = browser.post(f"{handle_base}/assignments/{assignment_id}/sign",
                            data={"password": SIGNING_PASSWORD, "item": sop.item_id})
    assert unticked.status_code == 400
    signed = browser.post(f"{handle_base}/assignments/{assignment_id}/sign",
                          data={"password": SIGNING_PASSWORD, "confirm": "yes", "item": sop.item_id},
                          allow_redirects=False)
    assert signed.status_code == 303, signed.text[:500]
    receipt = follow(lms, signed, browser)
    assert receipt.status_code == 200
    assert "Stu Dent — I have read and understood this document" in receipt.text
    assert 'id="version">1.0<' in receipt.text
    # The audit trail holds the signature and the completion, by the learner, bound together.
    completion_id = int(signed.headers["Location"].rsplit("/", 1)[1])
    with db.read_sessions() as s:
        learner = s.scalar(select(UserAccount).where(UserAccount.person_id == person_id))
        [signature_row] = s.scalars(select(AuditEvent).where(
            AuditEvent.action == "create", AuditEvent.entity_type == "electronic_signature",
            AuditEvent.actor_user_id == learner.id)).all()
        [completion_row] = s.scalars(select(AuditEvent).where(
            AuditEvent.action == "create", AuditEvent.entity_type == "qms_completion")).all()
    signature = signature_row.new_values
    assert signature["meaning"] == "read_and_understood" and signature["printed_name"] == "Stu Dent"
    assert signature["signer_person_id"] == person_id and signature["username"] == learner.username
    assert signature["record_type"] == "qms_assignment" and signature["record_id"] == assignment_id
    assert len(signature["content_hash"]) == 64
    completion = completion_row.new_values
    assert completion_row.entity_id == str(completion_id) and completion_row.actor_user_id == learner.id
    assert completion["person_id"] == person_id and completion["assignment_id"] == int(assignment_id)
    assert completion["item_version_id"] == sop.item_version_id
    assert completion["signature_id"] == int(signature_row.entity_id)

    # 6. The score goes to the gradebook through the outbox, retried when the LMS fails.
    platform.state.fail_next_scores = 1
    assert relay(db) == (0, 1)
    assert platform.state.scores == []
    with db.write_sessions() as s:
        message = s.scalar(select(outbox.OutboxMessage).where(outbox.OutboxMessage.topic == "lti.ags_score"))
        assert message.status == "pending" and "503" in message.last_error
        message.available_at = message.created_at  # the back-off has elapsed
        s.commit()
    # The LMS restarted meanwhile and no longer honours our cached access token: the 401 drops
    # it, and the next attempt asks the platform for a fresh one.
    from lti.tool import CachingServiceConnector

    tokens = CachingServiceConnector._tokens
    tokens.update({key: ("revoked-by-the-platform", expires) for key, (_, expires) in tokens.items()})
    token_requests = platform.state.token_requests
    assert relay(db) == (0, 1)
    with db.write_sessions() as s:
        message = s.scalar(select(outbox.OutboxMessage).where(outbox.OutboxMessage.topic == "lti.ags_score"))
        assert message.status == "pending" and "401" in message.last_error
        message.available_at = message.created_at
        s.commit()
    assert relay(db) == (1, 0)
    assert platform.state.token_requests == token_requests + 1
    [score] = platform.state.scores
    assert score["userId"] == "3" and score["scoreGiven"] == 100 and score["scoreMaximum"] == 100
    assert score["activityProgress"] == "Completed" and score["gradingProgress"] == "FullyGraded"
    assert score["lineitem"] == placed["link_id"]
    my_training = browser.get(handle_base + "/")
    assert "Completed (1)" in my_training.text

    # 7. The instructor's launch shows the course roster's compliance.
    instructor = launch_via_lms(lms, "2", link_id="course-home")
    roster = follow(lms, instructor)
    assert roster.status_code == 200 and "Stu Dent" in roster.text and "compliant" in roster.text
    with db.read_sessions() as s:
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "lti.deep_link_response")) is not None


def test_learner_pages_are_bound_to_the_launch(lms, db, make_user, uow_factory):
    first = launch_via_lms(lms, "3")
    page = follow(lms, first)
    handle_base = page.url.rstrip("/")
    # Another learner's assignment cannot be signed from this launch.
    lms.platform.add_user("5", "Other Learner", "other@example.com", [LEARNER])
    other = follow(lms, launch_via_lms(lms, "5"))
    assert other.status_code == 200
    other_person = person_of(db, lms.platform.issuer, "5")[0]
    sop = make_sop(db, make_user)
    [other_assignment] = assign(db, other_person, sop.item_version_id)
    forged = requests.post(f"{handle_base}/assignments/{other_assignment}/sign",
                           data={"password": TEST_PASSWORD, "confirm": "yes"})
    assert forged.status_code == 404
    # An unknown or expired handle is refused with a clear page.
    gone = requests.get(lms.tool_base + "/lti/s/not-a-handle/")
    assert gone.status_code == 401 and "open the activity again" in gone.text
    with uow_factory() as uow:
        for row in uow.session.scalars(select(LtiLaunch)):
            row.expires_at = row.created_at
        uow.commit()
    expired = requests.get(page.url)
    assert expired.status_code == 401
    # Learners cannot deep-link nor see the roster.
    learner_dl = follow(lms, launch_via_lms(lms, "3", kind="deeplink"))
    assert learner_dl.status_code == 403


def test_roster_sync_command_provisions_members(lms, db):
    assert launch_via_lms(lms, "3").status_code == 303
    lms.platform.add_user("9", "New Hire", "new.hire@example.com", [LEARNER])
    result = lms.runner.invoke(args=["lti", "roster", "sync"])
    assert result.exit_code == 0, result.output
    assert "3 members, 2 new people" in result.output
    assert person_of(db, lms.platform.issuer, "9")[1] == "New Hire"
    # Someone removed from the course is marked so at the next sync.
    del lms.platform.state.users["9"]
    result = lms.runner.invoke(args=["lti", "roster", "sync"])
    assert result.exit_code == 0, result.output
    # The summary says what the sync did: one member marked removed, none inactive.
    assert "2 members, 0 new people, 0 inactive, 1 removed" in result.output
    again = lms.runner.invoke(args=["lti", "roster", "sync"])
    assert "2 members, 0 new people, 0 inactive, 0 removed" in again.output
    with db.read_sessions() as s:
        statuses = {m.subject: m.status for m in s.scalars(select(LtiContextMember))}
    assert statuses == {"3": "Active", "2": "Active", "9": "Deleted"}
    listing = lms.runner.invoke(args=["lti", "roster", "list"])
    assert lms.platform.course_title in listing.output


def test_resource_link_records_line_item(lms, db):
    launched = launch_via_lms(lms, "3", link_id="rl-9", lineitem=lms.platform.add_lineitem("x", "SOP"))
    assert launched.status_code == 303, launched.text[:300]
    with db.read_sessions() as s:
        link = s.scalar(select(LtiResourceLink).where(LtiResourceLink.resource_link_id == "rl-9"))
    assert link.lineitem_url.endswith("/lineitems/x/lineitem?type_id=1")
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in link.ags_scopes


def test_console_user_signs_with_their_password_and_keeps_their_roles(lms, db, make_user):
    """A QA approver who also trains in the LMS: no console privilege in the LMS session,
    no second password, and the LMS cannot grant or change their roles."""
    approver = make_user("robin", "qa_approver", name="Robin Approver", email="student1@example.com")
    sop = make_sop(db, make_user, code="SOP-020", title="Cleaning")
    assign(db, approver.person_id, sop.item_version_id)
    lms.platform.state.users["3"].roles = [
        "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]
    launch = launch_via_lms(lms, "3", link_id="rl-20", custom={"gxp_training_item": str(sop.item_id)})
    assert "/course" in launch.headers["Location"]  # instructors land on course compliance
    handle_base = lms.tool_base + launch.headers["Location"].rsplit("/course", 1)[0]
    # The LMS e-mail is robin's: robin proves it once with their own password (test_hardening.py).
    linked = requests.post(f"{handle_base}/link", data={"username": "robin", "password": TEST_PASSWORD},
                           allow_redirects=False)
    assert linked.status_code == 303, linked.text[:300]
    item_page = requests.get(f"{handle_base}/items/{sop.item_id}")
    assert "Set your signing password" not in item_page.text and ">Password<" in item_page.text
    assert requests.get(handle_base + "/signing-password").status_code == 409
    # Signing before the controlled file was opened is refused (issue 14 #5), then accepted.
    assignment_id = re.search(r"/assignments/(\d+)/sign", item_page.text).group(1)
    unread = requests.post(f"{handle_base}/assignments/{assignment_id}/sign",
                           data={"password": TEST_PASSWORD, "confirm": "yes"}, allow_redirects=False)
    assert unread.status_code == 409 and "open the controlled file" in unread.text
    file_url = re.search(r'href="([^"]+/file)"', item_page.text).group(1)
    assert requests.get(lms.tool_base + file_url).status_code == 200
    signed = requests.post(f"{handle_base}/assignments/{assignment_id}/sign",
                           data={"password": TEST_PASSWORD, "confirm": "yes"}, allow_redirects=False)
    assert signed.status_code == 303, signed.text[:300]
    with db.read_sessions() as s:
        user = s.scalar(select(UserAccount).where(UserAccount.username == "robin"))
        assert user.roles == {"qa_approver"}  # the LMS's Instructor role did not add trainer
