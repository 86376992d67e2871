"""The LTI console pages and the editable policy settings, without a browser: what an
administrator sees (registrations, deployments and their last launch, roster status, failed
deliveries), the retry of a failed AGS score (audited; refused to an auditor, to other roles,
without CSRF, for a delivery that has not failed), and policy changes (validated as a whole,
audited with old and new values, in force from the next request; refused to an auditor).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from bridge.core.audit import AuditEvent
from bridge.core.outbox import OutboxMessage
from bridge.core.policy_store import PolicyOverride
from qms.policy import QmsPolicy
from tests.console import lticonsole_plant
from tests.console.conftest import csrf_of

IDLE = "GXPBRIDGE_SESSION_IDLE_MINUTES"
LOCKOUT = "GXPBRIDGE_LOCKOUT_THRESHOLD"
PASSWORD = "GXPBRIDGE_PASSWORD_MIN_LENGTH"
GATE = "GXPBRIDGE_QMS_MIN_TRAINED_PCT"

failed_delivery = lticonsole_plant.failed_delivery  # the fixture, for this module


def _audit(db, action: str) -> list[AuditEvent]:
    with db.read_sessions() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                    .order_by(AuditEvent.seq)))


def _audit_count(db) -> int:
    with db.read_sessions() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent))


def _message(db, message_id: int) -> OutboxMessage:
    with db.read_sessions() as session:
        return session.get(OutboxMessage, message_id)


def test_administrator_sees_registrations_deployments_rosters_and_failed_deliveries(
        failed_delivery, console_client):
    admin = console_client("root", "administrator")
    listing = admin.get("/console/lti/").get_data(as_text=True)
    assert "Refusing Moodle" in listing and "by hand" in listing
    assert "Failed deliveries to the LMS: 2" in listing
    page = admin.get(f"/console/lti/platforms/{failed_delivery.platform_id}").get_data(as_text=True)
    assert "<code>dep-1</code>" in page and "<code>dep-2</code>" in page
    deployments = page[page.index('id="deployments"'):page.index('id="rosters"')]
    assert deployments.count("never") == 1  # dep-2 has had no launch; dep-1 one, 2 hours ago
    assert "GMP basics" in page and "127.0.0.1" in page  # the roster sync's error
    rosters = page[page.index('id="rosters"'):]
    assert ">2</td>" in rosters and ">1</td>" in rosters  # two members: one active, one removed
    failed = admin.get("/console/lti/deliveries?state=failed").get_data(as_text=True)
    assert f'id="delivery-{failed_delivery.ags_id}"' in failed
    assert f"Retry delivery {failed_delivery.ags_id}" in failed
    assert "127.0.0.1" in failed  # the refused token URL in the error
    sent = admin.get("/console/lti/deliveries?state=sent").get_data(as_text=True)
    assert "No delivery in this state" in sent


def test_retry_of_a_failed_score_is_audited_and_only_for_failed_deliveries(
        failed_delivery, console_client, db, clock):
    admin = console_client("root", "administrator")
    page = admin.get("/console/lti/deliveries").get_data(as_text=True)
    url = f"/console/lti/deliveries/{failed_delivery.ags_id}/retry"
    back = {"Referer": "http://localhost/console/lti/deliveries"}
    before = _message(db, failed_delivery.ags_id)
    assert before.available_at > clock.now()  # backed off
    no_reason = admin.post(url, data={"csrf_token": csrf_of(page), "reason": " "}, headers=back,
                           follow_redirects=True)
    assert "give the reason" in no_reason.get_data(as_text=True)
    assert _audit(db, "outbox_message.retry") == []
    done = admin.post(url, data={"csrf_token": csrf_of(page), "reason": "LMS token endpoint back"},
                      headers=back, follow_redirects=True)
    assert f"Delivery {failed_delivery.ags_id} queued again" in done.get_data(as_text=True)
    after = _message(db, failed_delivery.ags_id)
    assert (after.status, after.attempts, after.last_error) == ("pending", 0, None)
    assert after.available_at <= clock.now()
    [row] = _audit(db, "outbox_message.retry")
    assert row.actor_username == "root" and row.entity_id == str(failed_delivery.ags_id)
    assert row.reason == "LMS token endpoint back"
    assert row.old_values["attempts"] == 1 and "127.0.0.1" in row.old_values["last_error"]
    assert row.new_values["status"] == "pending" and row.new_values["attempts"] == 0
    # Now waiting to be sent: not failed, so a second retry is refused and nothing is written.
    again = admin.post(url, data={"csrf_token": csrf_of(page), "reason": "again"}, headers=back,
                       follow_redirects=True)
    assert "has not failed" in again.get_data(as_text=True)
    assert len(_audit(db, "outbox_message.retry")) == 1


def test_retry_refusals_auditor_other_roles_and_forged_posts(failed_delivery, console_client, db):
    url = f"/console/lti/deliveries/{failed_delivery.ags_id}/retry"
    auditor = console_client("ida", "auditor")
    approver = console_client("quinn", "qa_approver")
    admin = console_client("root", "administrator")
    audits = _audit_count(db)  # after the sign-ins
    page = auditor.get("/console/lti/deliveries?state=failed")
    assert page.status_code == 200  # the auditor reads it
    text = page.get_data(as_text=True)
    assert f"Retry delivery {failed_delivery.ags_id}" not in text  # and is offered no retry
    assert auditor.post(url, data={"csrf_token": csrf_of(text), "reason": "x"}).status_code == 403
    token = csrf_of(approver.get("/console/").get_data(as_text=True))
    assert approver.get("/console/lti/deliveries").status_code == 403
    assert approver.post(url, data={"csrf_token": token, "reason": "x"}).status_code == 403
    assert admin.post(url, data={"csrf_token": "forged", "reason": "x"}).status_code == 400
    assert admin.post(url, data={"reason": "x"}).status_code == 400
    assert _message(db, failed_delivery.ags_id).attempts == 1  # untouched
    assert _audit_count(db) == audits


def test_dead_delivery_is_retried_a_sent_one_is_not(failed_delivery, console_client, db,
                                                    uow_factory):
    with uow_factory() as uow:
        uow.session.get(OutboxMessage, failed_delivery.nrps_id).status = "dead"
        sent = uow.session.get(OutboxMessage, failed_delivery.ags_id)
        sent.status, sent.last_error, sent.sent_at = "sent", None, uow.clock.now()
        uow.commit()
    admin = console_client("root", "administrator")
    page = admin.get(f"/console/lti/platforms/{failed_delivery.platform_id}").get_data(as_text=True)
    assert "badge-dead" in page  # the course's roster sync was given up
    back = {"Referer": "http://localhost/console/lti/deliveries"}
    token = csrf_of(page)
    refused = admin.post(f"/console/lti/deliveries/{failed_delivery.ags_id}/retry",
                         data={"csrf_token": token, "reason": "x"}, headers=back,
                         follow_redirects=True)
    assert "has not failed (sent)" in refused.get_data(as_text=True)
    admin.post(f"/console/lti/deliveries/{failed_delivery.nrps_id}/retry",
               data={"csrf_token": token, "reason": "roster service restored"}, headers=back)
    assert _message(db, failed_delivery.nrps_id).status == "pending"
    [row] = _audit(db, "outbox_message.retry")
    assert row.old_values["status"] == "dead"


def test_administrator_changes_the_idle_timeout_audited_and_in_force_next_request(
        console_client, db, clock, app):
    admin = console_client("root", "administrator")
    page = admin.get("/console/admin/policy").get_data(as_text=True)
    assert "environment" in page and IDLE in page
    changed = admin.post("/console/admin/policy", data={
        "csrf_token": csrf_of(page), IDLE: "45", LOCKOUT: "3", PASSWORD: "12", GATE: "",
        "reason": "night shift works longer between clicks"}, follow_redirects=True)
    assert "Policy changed: idle sign-out (minutes)." in changed.get_data(as_text=True)
    [row] = _audit(db, "policy_setting.changed")  # only the value that changed
    assert (row.entity_type, row.entity_id, row.actor_username) == ("policy_setting", IDLE, "root")
    assert row.old_values == {"value": 15, "source": "environment"}
    assert row.new_values == {"value": 45, "source": "console"}
    assert row.reason == "night shift works longer between clicks"
    # In force at once: 30 idle minutes no longer sign the administrator out (15 would have).
    clock.advance(dt.timedelta(minutes=30))
    assert admin.get("/console/admin/policy").status_code == 200
    clock.advance(dt.timedelta(minutes=46))
    assert admin.get("/console/admin/policy").status_code == 302  # signed out now
    history = console_client("ida", "auditor").get(f"/console/audit/record/policy_setting/{IDLE}")
    text = history.get_data(as_text=True)
    assert "night shift" in text and ">15<" in text and ">45<" in text


def test_bad_policy_values_are_refused_and_nothing_is_saved(console_client, db):
    admin = console_client("root", "administrator")
    token = csrf_of(admin.get("/console/admin/policy").get_data(as_text=True))
    audits = _audit_count(db)
    bad = admin.post("/console/admin/policy", data={
        "csrf_token": token, IDLE: "30", LOCKOUT: "0", PASSWORD: "six", GATE: "150",
        "reason": "tighten"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "Nothing was saved" in text
    assert "Lockout after failed attempts: give a whole number from 1 to 20" in text
    assert "Password minimum length: give a whole number from 8 to 128" in text
    assert "a percentage from 0 to 100" in text
    assert 'value="six"' in text  # what was typed is shown again
    no_reason = admin.post("/console/admin/policy", data={"csrf_token": token, IDLE: "30"})
    assert no_reason.status_code == 400 and "give the reason" in no_reason.get_data(as_text=True)
    assert admin.post("/console/admin/policy", data={IDLE: "30", "reason": "x"}).status_code == 400
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(PolicyOverride)) == 0
    assert _audit_count(db) == audits


def test_auditor_and_other_roles_cannot_change_the_policy(console_client, db):
    auditor = console_client("ida", "auditor")
    page = auditor.get("/console/admin/policy")
    assert page.status_code == 200 and "Save policy" not in page.get_data(as_text=True)
    token = csrf_of(page.get_data(as_text=True))
    assert auditor.post("/console/admin/policy", data={"csrf_token": token, IDLE: "600",
                                                       "reason": "x"}).status_code == 403
    author = console_client("lena", "qa_author")
    token = csrf_of(author.get("/console/").get_data(as_text=True))
    assert author.post("/console/admin/policy", data={"csrf_token": token, IDLE: "600",
                                                      "reason": "x"}).status_code == 403
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(PolicyOverride)) == 0


def test_overrides_reach_units_of_work_the_gate_and_the_lockout(console_client, uow_factory, db):
    admin = console_client("root", "administrator")
    token = csrf_of(admin.get("/console/admin/policy").get_data(as_text=True))
    response = admin.post("/console/admin/policy", data={
        "csrf_token": token, GATE: "90", LOCKOUT: "7", PASSWORD: "14", "reason": "QA decision 12"})
    assert response.status_code == 303
    with uow_factory(readonly=True) as uow:
        assert uow.policy(QmsPolicy).min_trained_pct == 90.0
        assert (uow.settings.lockout_threshold, uow.settings.password_min_length) == (7, 14)
        assert uow.settings.session_idle_minutes == 15  # not overridden: the environment's
    with uow_factory(readonly=True) as uow:
        # One setting at a time: an editable one with the overrides, a fixed one (the record
        # store's write path reads base_url per request) without reading them at all.
        assert uow.setting("lockout_threshold") == 7
    with uow_factory(readonly=True) as uow:
        assert uow.setting("base_url") == db.settings.base_url
        assert uow._overrides is None
    assert db.settings.lockout_threshold == 3  # the environment's object is left alone
    assert {r.entity_id for r in _audit(db, "policy_setting.changed")} == {GATE, LOCKOUT, PASSWORD}
    page = admin.get("/console/admin/policy").get_data(as_text=True)
    assert "console (root," in page and "History of lockout after failed attempts" in page
    # Back to "no site-wide gate": an empty value is stored as none.
    admin.post("/console/admin/policy", data={"csrf_token": token, GATE: "", "reason": "undo"})
    with uow_factory(readonly=True) as uow:
        assert uow.policy(QmsPolicy).min_trained_pct is None
    [*_, undo] = _audit(db, "policy_setting.changed")
    assert undo.old_values == {"value": 90.0, "source": "console"} and undo.new_values["value"] is None


def test_an_overridden_policy_value_goes_back_to_the_environment(console_client, uow_factory, db):
    admin = console_client("root", "administrator")
    token = csrf_of(admin.get("/console/admin/policy").get_data(as_text=True))
    admin.post("/console/admin/policy", data={"csrf_token": token, LOCKOUT: "7", "reason": "audit finding"})
    page = admin.get("/console/admin/policy").get_data(as_text=True)
    # Only an overridden value offers the way back.
    assert f'name="revert" value="{LOCKOUT}"' in page and f'name="revert" value="{PASSWORD}"' not in page
    # The value typed in the same form is ignored for a setting sent back to the environment.
    response = admin.post("/console/admin/policy", data={
        "csrf_token": token, LOCKOUT: "9", "revert": LOCKOUT, "reason": "CAPA-12 closed"})
    assert response.status_code == 303
    with uow_factory(readonly=True) as uow:
        assert uow.settings.lockout_threshold == db.settings.lockout_threshold == 3
    with db.read_sessions() as session:
        assert session.get(PolicyOverride, LOCKOUT) is None
    [*_, back] = _audit(db, "policy_setting.changed")
    assert back.old_values == {"value": 7, "source": "console"}
    assert back.new_values == {"value": 3, "source": "environment"} and back.reason == "CAPA-12 closed"
    page = admin.get("/console/admin/policy").get_data(as_text=True)
    assert f'name="revert" value="{LOCKOUT}"' not in page
    # Only settings the console may change can be sent back; nothing is written otherwise.
    refused = admin.post("/console/admin/policy", data={
        "csrf_token": token, "revert": "GXPBRIDGE_SECRET_KEY", "reason": "x"})
    assert refused.status_code == 400
    assert len(_audit(db, "policy_setting.changed")) == 2
