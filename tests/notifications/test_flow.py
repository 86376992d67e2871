"""From assignment to escalation with a moved clock, received by a real SMTP server: the morning
digest, the reminders 7 and 1 days before the due date, the overdue notice, the escalation to the
supervisor and the department's QA contact; every notice on the person's record.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.notifications.conftest import local, relay, run_sweeps, set_email

START = dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.UTC)  # Monday 10:00 in Zurich
ADDRESSES = {"ann": "ann@plant.example", "bob": "bob@plant.example", "supervisor": "sup@plant.example",
             "author": "qa@plant.example", "approver": "approver@plant.example"}


@pytest.fixture
def site(plant, clock, uow_factory):
    clock.set(START)
    ids = plant.ids
    ids["prod"] = plant.unit("departments", "PROD")
    ids["op"] = plant.unit("job-functions", "OP")
    doc = plant.document("SOP-7")
    ids["doc"] = doc["id"]
    ids["item"] = doc["training_item_id"]
    plant.post("/requirements", "author",
               {"scope": "job_function", "scope_id": ids["op"], "training_item_id": ids["item"]}, expect=201)
    plant.publish(doc["id"], lms_url="https://lms.plant.example/course/7")
    for name, address in ADDRESSES.items():
        set_email(uow_factory, plant.people[name], address)
    plant.call("PUT", f"/people/{plant.people['ann']}/supervisor", "supervisor",
               json={"supervisor_person_id": plant.people["supervisor"], "reason": "line manager"},
               expect=200)
    plant.call("PUT", f"/departments/{ids['prod']}/qa-contact", "author",
               json={"person_id": plant.people["author"], "reason": "QA of production"}, expect=200)
    return plant


def parts(message):
    return {part.get_content_type(): part.get_payload(decode=True).decode()
            for part in message.walk() if not part.is_multipart()}


def test_assignment_digest_reminders_overdue_escalation(site, app, clock, inbox):
    ann = site.people["ann"]
    site.hire("ann", site.ids["prod"], [site.ids["op"]], person_id=ann)
    [assignment] = site.get(f"/assignments?person_id={ann}", "supervisor")
    due = dt.datetime.fromisoformat(assignment["due_at"])
    url = f"https://gxp.plant.example/console/assignments/{assignment['id']}"

    # Assigned at 10:00: the digest waits for the next morning.
    run_sweeps(app, "qms.notify")
    relay(app)
    assert inbox.messages == []
    local(clock, dt.date(2027, 3, 2), 7, 30)
    assert run_sweeps(app, "qms.notify")["qms.notify"]["assignment_digest"] == 1
    assert relay(app) == (1, 0)
    [digest] = inbox.to("ann@plant.example")
    assert digest["Subject"] == "1 new training assignment"
    assert digest["From"] == "Training <training@plant.example>"
    body = parts(digest)
    assert "SOP-7" in body["text/plain"] and "https://lms.plant.example/course/7" in body["text/plain"]
    assert 'href="https://lms.plant.example/course/7"' in body["text/html"]
    assert "/console/people/" in body["text/html"]
    # Another sweep the same morning sends nothing more.
    run_sweeps(app, "qms.notify")
    assert relay(app) == (0, 0)

    # Reminders 7 days and 1 day before the due date.
    clock.set(due - dt.timedelta(days=7) + dt.timedelta(hours=1))
    assert run_sweeps(app, "qms.notify")["qms.notify"]["reminder"] == 1
    clock.set(due - dt.timedelta(days=1) + dt.timedelta(hours=1))
    run_sweeps(app, "qms.notify")
    relay(app)
    subjects = [m["Subject"] for m in inbox.to("ann@plant.example")]
    assert subjects == ["1 new training assignment", "Training due within 7 days",
                        "Training due within 1 day"]

    # Due date passed: the overdue sweep marks it, the notice tells Ann.
    clock.set(due + dt.timedelta(hours=1))
    outcome = run_sweeps(app, "qms.overdue", "qms.notify")
    assert outcome["qms.overdue"] == {"overdue": 1} and outcome["qms.notify"]["overdue"] == 1
    relay(app)
    assert inbox.to("ann@plant.example")[-1]["Subject"] == "OVERDUE: 1 training assignment"
    assert inbox.to("sup@plant.example") == []

    # Seven days overdue: the supervisor and the department's QA contact are told.
    clock.set(due + dt.timedelta(days=7, hours=1))
    assert run_sweeps(app, "qms.notify")["qms.notify"]["escalation"] == 2
    relay(app)
    for address in ("sup@plant.example", "qa@plant.example"):
        [escalation] = inbox.to(address)
        assert escalation["Subject"] == "Escalation: overdue training of 1 person"
        text = parts(escalation)["text/plain"]
        assert "Ann" in text and url in text
    # Nothing is sent twice, however often the sweeps run.
    run_sweeps(app, "qms.overdue", "qms.notify")
    assert relay(app) == (0, 0)
    assert len(inbox.messages) == 6 and len(set(inbox.message_ids())) == 6

    # Every notice is on the person's record, readable by them (not by a colleague).
    record = site.get(f"/people/{ann}/notifications", "ann")
    assert [n["kind"] for n in record] == ["overdue", "reminder", "reminder", "assignment_digest"]
    assert {n["status"] for n in record} == {"sent"}
    assert record[-1]["message_id"] == digest["Message-ID"]
    assert record[-1]["address"] == "ann@plant.example" and record[-1]["sent_at"]
    site.get(f"/people/{ann}/notifications", "bob", expect=403)
    supervisor_record = site.get(f"/people/{site.people['supervisor']}/notifications", "auditor")
    assert [n["kind"] for n in supervisor_record] == ["escalation"]


def test_optional_notices_can_be_turned_off_mandatory_ones_cannot(site, app, clock, inbox):
    ann = site.people["ann"]
    refused = site.call("PUT", f"/people/{ann}/notification-preferences", "ann",
                        json={"choices": {"overdue": False}}, expect=403)
    assert refused.json["error"] == "mandatory_notice"
    prefs = site.call("PUT", f"/people/{ann}/notification-preferences", "ann",
                      json={"choices": {"reminder": False}}, expect=200).json
    assert prefs["reminder"] == {"mandatory": False, "enabled": False}
    assert prefs["overdue"] == {"mandatory": True, "enabled": True}
    site.call("PUT", f"/people/{ann}/notification-preferences", "bob",
              json={"choices": {"reminder": True}}, expect=403)
    site.hire("ann", site.ids["prod"], [site.ids["op"]], person_id=ann)
    [assignment] = site.get(f"/assignments?person_id={ann}", "supervisor")
    clock.set(dt.datetime.fromisoformat(assignment["due_at"]) - dt.timedelta(days=6))
    run_sweeps(app, "qms.notify")
    relay(app)
    record = {n["kind"]: n for n in site.get(f"/people/{ann}/notifications", "ann")}
    # Recorded, not sent (an assignment older than the digest's look-back is not digested).
    assert list(record) == ["reminder"] and record["reminder"]["status"] == "suppressed"
    assert inbox.to("ann@plant.example") == []


def test_an_approval_waits_for_the_approvers(site, app, clock, inbox):
    version = site.draft(site.ids["doc"], "2.0")
    site.post(f"/document-versions/{version['id']}/submit", "author", {}, expect=200)
    run_sweeps(app, "qms.notify")
    relay(app)
    [waiting] = inbox.to("approver@plant.example")
    assert waiting["Subject"] == "Waiting for your approval: SOP-7 2.0 SOP-7 procedure"
    assert inbox.to("qa@plant.example") == []  # the author does not approve their own version
    run_sweeps(app, "qms.notify")
    assert relay(app) == (0, 0)


def test_a_change_controls_approval_tells_the_people_it_affects(site, app, clock, inbox):
    ann = site.people["ann"]
    site.hire("ann", site.ids["prod"], [site.ids["op"]], person_id=ann)
    version = site.draft(site.ids["doc"], "2.0", "major")
    change = site.post("/change-controls", "author", {
        "title": "New <b>detergent</b>", "impact": "steps 4-7",
        "effective_at": (clock.now() + dt.timedelta(days=14)).isoformat(),
        "document_version_ids": [version["id"]]}, expect=201).json
    site.post(f"/change-controls/{change['id']}/submit", "author", expect=200)
    run_sweeps(app, "qms.notify")  # the approver hears that it waits
    site.post(f"/change-controls/{change['id']}/approve", "approver", site.sign("approver"), expect=200)
    outcome = run_sweeps(app, "qms.notify")["qms.notify"]
    assert outcome["change_approved"] == 1
    relay(app)
    [told] = [m for m in inbox.to("ann@plant.example") if "approved" in m["Subject"]]
    assert told["Subject"] == f"Change control {change['number']} approved: training for you"
    html = parts(told)["text/html"]
    assert "New &lt;b&gt;detergent&lt;/b&gt;" in html and "<b>detergent" not in html  # escaped
    assert "2.0" not in told["Subject"]
    # The next morning's digest repeats nothing: the change's assignment was announced, the
    # hire's assignment on 1.0 was superseded by it.
    local(clock, (clock.now() + dt.timedelta(days=1)).date(), 7, 30)
    assert run_sweeps(app, "qms.notify")["qms.notify"]["assignment_digest"] == 0
