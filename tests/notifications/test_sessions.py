"""Instructor-led sessions: invitees receive an iCalendar invitation, then its cancellation (same
UID, later SEQUENCE); mail queued in the quiet hours leaves when they end.
"""

from __future__ import annotations

import datetime as dt

from tests.notifications.conftest import local, relay, set_email


def calendar_of(message):
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return part.get_payload(decode=True).decode()


def test_invitation_and_cancellation_with_quiet_hours(plant, app, clock, inbox, uow_factory):
    for name in ("ann", "bob"):
        set_email(uow_factory, plant.people[name], f"{name}@plant.example")
    item = plant.post("/training-items", "author",
                      {"code": "GMP-101", "kind": "instructor_led", "title": "GMP basics"}, expect=201).json
    local(clock, dt.date(2027, 5, 3), 21, 30)  # quiet hours in Zurich (20:00-07:00)
    starts = dt.datetime(2027, 5, 10, 8, 0, tzinfo=dt.UTC)
    body = {"training_item_id": item["id"], "starts_at": starts.isoformat(),
            "ends_at": (starts + dt.timedelta(hours=2)).isoformat(), "location": "Room 4; Building B",
            "person_ids": [plant.people["ann"], plant.people["bob"]],
            "instructor_person_id": plant.people["trainer"]}
    created = plant.post("/training-sessions", "trainer", body, expect=201).json
    assert created["status"] == "scheduled" and created["person_ids"] == sorted(body["person_ids"])
    assert relay(app) == (0, 0)  # held until the quiet hours end
    local(clock, dt.date(2027, 5, 4), 7, 1)
    assert relay(app) == (2, 0)
    invitation = inbox.to("ann@plant.example")[0]
    assert invitation["Subject"] == "Invitation: GMP basics, 2027-05-10 10:00 (Europe/Zurich)"
    ics = calendar_of(invitation)
    assert "METHOD:REQUEST" in ics and f"UID:{created['uid']}" in ics and "SEQUENCE:0" in ics
    assert "DTSTART:20270510T080000Z" in ics and "LOCATION:Room 4\\; Building B" in ics
    assert "ATTENDEE;CN=Ann;ROLE=REQ-PARTICIPANT" in ics and ics.endswith("END:VCALENDAR\r\n")

    plant.post(f"/training-sessions/{created['id']}/cancel", "trainer", {"reason": "trainer ill"}, expect=200)
    plant.post(f"/training-sessions/{created['id']}/cancel", "trainer", {"reason": "again"}, expect=409)
    assert relay(app) == (2, 0)
    cancellation = inbox.to("bob@plant.example")[-1]
    assert cancellation["Subject"].startswith("Cancelled: GMP basics")
    ics = calendar_of(cancellation)
    assert "METHOD:CANCEL" in ics and "SEQUENCE:1" in ics and "STATUS:CANCELLED" in ics
    assert f"UID:{created['uid']}" in ics
    text = next(p for p in cancellation.walk() if p.get_content_type() == "text/plain")
    assert "trainer ill" in text.get_payload(decode=True).decode()
    kinds = [n["kind"] for n in plant.get(f"/people/{plant.people['ann']}/notifications", "ann")]
    assert kinds == ["session_cancellation", "session_invitation"]
    plant.post("/training-sessions", "ann", body, expect=403)
