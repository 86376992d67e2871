"""Operations around the launch: platform key rotation, registrations without a deployment,
signing-password reset, the state sweep, permanent AGS failures."""

from __future__ import annotations

import datetime as dt
import re

import requests
from sqlalchemy import func, select

from bridge.core import outbox
from bridge.core.db import utcnow
from bridge.core.jobs import sweeps_of
from lti.models import LtiPlatform, LtiStateEntry
from tests.lti.conftest import (
    assign,
    base_claims,
    follow,
    initiate,
    launch_via_lms,
    login_params,
    make_sop,
    platform_kid,
    post_launch,
    sign,
)
from tests.lti.platform import new_rsa_pem


def _launch_signed_now(lms):
    login = initiate(lms.platform.base, lms.tool_base, login_params(lms))
    token = sign(base_claims(lms, login), lms.platform.private_pem, platform_kid(lms.platform))
    return post_launch(lms, token, login.state)


def test_platform_key_rotation_is_followed(lms, db):
    assert _launch_signed_now(lms).status_code == 303  # caches the platform key set
    lms.platform.private_pem, lms.platform.public_pem = new_rsa_pem()  # the LMS rotates its key
    # Just cached: an unknown kid does not make us fetch the key set again at once.
    refused = _launch_signed_now(lms)
    assert refused.status_code == 401 and "signature" in refused.text
    with db.write_sessions() as s:  # a minute later
        for row in s.scalars(select(LtiStateEntry).where(LtiStateEntry.key.like("%key-set-url%"))):
            row.expires_at = row.expires_at - dt.timedelta(seconds=60)
        s.commit()
    assert _launch_signed_now(lms).status_code == 303


def test_dynamic_registration_without_deployment(lms, db):
    lms.platform.state.registration_deployment = None
    created = lms.runner.invoke(args=["lti", "registration-token", "create"])
    assert created.exit_code == 0, created.output
    url = created.output.strip().splitlines()[0]
    confirm = requests.get(url, params={
        "openid_configuration": lms.platform.base + "/.well-known/openid-configuration",
        "registration_token": lms.platform.state.registration_token})
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', confirm.text))
    done = requests.post(lms.tool_base + "/lti/register", data=fields)
    assert done.status_code == 200 and "add-deployment" in done.text
    with db.read_sessions() as s:
        platform = s.scalar(select(LtiPlatform).where(LtiPlatform.client_id == "dyn-client-1"))
        assert platform.deployment_ids == []
    result = lms.runner.invoke(args=["lti", "platform", "add-deployment", str(platform.id), "42"])
    assert result.exit_code == 0, result.output


def test_signing_password_reset(lms, db, make_user):
    first = follow(lms, launch_via_lms(lms, "3"))
    handle_base = first.url.rstrip("/")
    done = requests.post(handle_base + "/signing-password",
                         data={"password": "Signing-Pass-2026!", "confirm": "Signing-Pass-2026!"})
    assert done.status_code == 200
    again = requests.get(handle_base + "/signing-password")
    assert again.status_code == 409 and "already set" in again.text
    username = re.search(r"student1@lti\d+", lms.runner.invoke(args=["user", "list"]).output).group(0)
    no_reason = lms.runner.invoke(args=["lti", "signing-password", "reset", username])
    assert no_reason.exit_code == 2
    reset = lms.runner.invoke(args=["lti", "signing-password", "reset", username, "--reason", "forgotten"])
    assert reset.exit_code == 0, reset.output
    assert requests.get(handle_base + "/signing-password").status_code == 200
    twice = lms.runner.invoke(args=["lti", "signing-password", "reset", username, "--reason", "again"])
    assert twice.exit_code == 1 and "no signing password" in twice.output


def test_expired_state_is_swept(app, lms, db):
    initiate(lms.platform.base, lms.tool_base, login_params(lms))
    with db.write_sessions() as s:
        for row in s.scalars(select(LtiStateEntry)):
            row.expires_at = utcnow() - dt.timedelta(seconds=1)
        s.commit()
    [sweep] = [s for s in sweeps_of(app) if s.name == "lti-purge-expired-state"]
    assert sweep.run(db) >= 1
    with db.read_sessions() as s:
        assert s.scalar(select(func.count()).select_from(LtiStateEntry)) == 0


def test_score_refused_by_the_platform_is_dead_lettered(lms, db, make_user):
    from bridge.core import people

    lineitem = lms.platform.add_lineitem("gone", "SOP")
    sop = make_sop(db, make_user)
    launch = launch_via_lms(lms, "3", link_id="l1", lineitem=lineitem,
                            custom={"gxp_training_item": "SOP-014"})  # named by its code
    item_page = follow(lms, launch)
    assert "Gowning procedure" in item_page.text
    with db.read_sessions() as s:
        person_id = people.find_person_by_identity(s, "lti", lms.platform.issuer, "3").id
    assign(db, person_id, sop.item_version_id)
    handle_base = item_page.url.split("/items/")[0]
    chosen = requests.post(handle_base + "/signing-password", data={"password": "Signing-Pass-2026!",
                                                                   "confirm": "Signing-Pass-2026!"},
                           allow_redirects=False)
    assert chosen.status_code == 303, chosen.text[:300]
    page = requests.get(item_page.url)
    # The learner opens the controlled file before signing (issue 14 #5).
    file_url = re.search(r'href="([^"]+/file)"', page.text).group(1)
    assert requests.get(lms.tool_base + file_url).status_code == 200
    assignment_id = re.search(r"/assignments/(\d+)/sign", page.text).group(1)
    signed = requests.post(f"{handle_base}/assignments/{assignment_id}/sign",
                           data={"password": "Signing-Pass-2026!", "confirm": "yes"}, allow_redirects=False)
    assert signed.status_code == 303
    del lms.platform.state.lineitems["gone"]  # the teacher deleted the column meanwhile
    relayed = outbox.relay_once(db)
    assert relayed[1] >= 1
    with db.read_sessions() as s:
        message = s.scalar(select(outbox.OutboxMessage).where(outbox.OutboxMessage.topic == "lti.ags_score"))
        assert message.status == "dead" and "404" in message.last_error


def test_role_mapping():
    from lti.services import is_instructor, map_roles

    lis = "http://purl.imsglobal.org/vocab/lis/v2/"
    platform = LtiPlatform(role_map=None)
    assert map_roles(platform, [lis + "membership#Learner"]) == ["learner"]
    assert map_roles(platform, [lis + "membership#Instructor", lis + "institution/person#Administrator",
                                lis + "system/person#Administrator"]) == ["trainer"]
    assert map_roles(platform, [lis + "membership/Instructor#TeachingAssistant"]) == ["trainer"]
    assert map_roles(platform, ["Learner", "Mentor"]) == ["learner", "supervisor"]
    assert map_roles(platform, [lis + "institution/person#Staff"]) == ["learner"]  # at least learner
    assert map_roles(LtiPlatform(role_map={"Mentor": "trainer", "Learner": "administrator"}),
                     [lis + "membership#Mentor", lis + "membership#Learner"]) == ["learner", "trainer"]
    assert is_instructor([lis + "membership#Instructor"]) and not is_instructor([lis + "membership#Learner"])


def test_failed_roster_sync_in_the_worker_leaves_nothing_behind(lms, db, monkeypatch):
    """The relay commits its retry bookkeeping; the sync's partial writes must not ride along."""
    from bridge.core import people
    from lti import services

    assert launch_via_lms(lms, "3").status_code == 303  # asks for a roster sync
    lms.platform.add_user("9", "New Hire", "new.hire@example.com", ["Learner"])
    calls = {"n": 0}
    real = services._membership

    def fail_on_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "_membership", fail_on_second)
    assert outbox.relay_once(db) == (0, 1)
    with db.read_sessions() as s:
        # The instructor (first member, provisioned before the failure) was rolled back too.
        assert people.find_person_by_identity(s, "lti", lms.platform.issuer, "2") is None
        message = s.scalar(select(outbox.OutboxMessage).where(outbox.OutboxMessage.topic == "lti.nrps_sync"))
        assert message.status == "pending" and "disk full" in message.last_error
    from bridge.core.audit import verify_chain

    with db.read_sessions() as s:
        assert verify_chain(s).ok


def test_failed_roster_sync_in_the_worker_leaves_no_audit_rows_behind(lms, db, monkeypatch):
    """The audit trail must not describe people whose creation was rolled back."""
    from bridge.core import people
    from bridge.core.audit import AuditEvent
    from lti import services

    assert launch_via_lms(lms, "3").status_code == 303
    with db.read_sessions() as s:
        learner = people.find_person_by_identity(s, "lti", lms.platform.issuer, "3").id
    real, calls = services._membership, {"n": 0}

    def fail_on_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "_membership", fail_on_second)
    assert outbox.relay_once(db) == (0, 1)
    with db.read_sessions() as s:
        audited = set(s.scalars(select(AuditEvent.entity_id).where(AuditEvent.entity_type == "person",
                                                                   AuditEvent.action == "create")))
    assert audited == {str(learner)}  # not the instructor, whose creation was rolled back
