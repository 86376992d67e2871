"""Queueing notices: each is recorded (to whom, what, when) with an idempotency key, held through
the site's quiet hours, and handed to the outbox; people's preferences and their notice history.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bridge.core.errors import Forbidden, ValidationFailed
from bridge.core.outbox import OutboxMessage
from bridge.core.people import Person, get_person
from bridge.core.uow import UnitOfWork
from qms.notifications.models import KINDS, Notification, NotificationPreference
from qms.notifications.policy import NotifyPolicy

logger = logging.getLogger(__name__)

EMAIL_TOPIC = "notify.email"
# Who may read or change another person's notices and preferences.
NOTICE_READERS = ("qa_author", "qa_approver", "supervisor", "auditor")


def site_zone(uow: UnitOfWork) -> ZoneInfo:
    """The site's time zone (``GXPBRIDGE_SITE_TIMEZONE``)."""
    return ZoneInfo(uow.settings.site_timezone)


def release_time(now: dt.datetime, policy: NotifyPolicy, zone: ZoneInfo) -> dt.datetime:
    """When a notice made at ``now`` may leave: now, or the end of the quiet hours."""
    start, end = policy.quiet_start_hour, policy.quiet_end_hour
    if start == end:
        return now
    local = now.astimezone(zone)
    quiet = (local.hour >= start or local.hour < end) if start > end else (start <= local.hour < end)
    if not quiet:
        return now
    release = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if release <= local:
        release += dt.timedelta(days=1)
    return release.astimezone(dt.UTC)


def queue_emails(uow: UnitOfWork, notices: Sequence[dict[str, Any]]) -> list[str]:
    """Record e-mail notices and queue them in the outbox, in the caller's transaction.

    Each notice is a dict with ``kind``, ``person_id``, ``subject``, ``context`` and ``key`` (its
    idempotency key; a key already recorded is left alone). A notice the person turned off is
    recorded as ``suppressed``; one to a person without an e-mail address as ``skipped``.

    Returns:
        The idempotency keys of the notices queued for sending.
    """
    if not notices:
        return []
    session, now = uow.session, uow.clock.now()
    for notice in notices:
        if notice["kind"] not in KINDS:
            raise ValueError(f"unknown notice kind {notice['kind']!r}")
    keys = [n["key"] for n in notices]
    known: set[str] = set()
    for start in range(0, len(keys), 5000):
        known.update(session.scalars(select(Notification.idempotency_key).where(
            Notification.idempotency_key.in_(keys[start:start + 5000]))))
    fresh = {n["key"]: n for n in notices if n["key"] not in known}
    if not fresh:
        return []
    people = sorted({n["person_id"] for n in fresh.values()})
    emails: dict[int, str | None] = {}
    turned_off: set[tuple[int, str]] = set()
    for start in range(0, len(people), 5000):
        chunk = people[start:start + 5000]
        emails.update(session.execute(select(Person.id, Person.email).where(Person.id.in_(chunk))).all())
        turned_off.update(session.execute(select(
            NotificationPreference.person_id, NotificationPreference.kind).where(
            NotificationPreference.person_id.in_(chunk), NotificationPreference.enabled.is_(False))).all())
    release = release_time(now, uow.policy(NotifyPolicy), site_zone(uow))
    rows = []
    for notice in fresh.values():
        mandatory = KINDS[notice["kind"]]
        address = emails.get(notice["person_id"])
        status, error = "queued", None
        if not mandatory and (notice["person_id"], notice["kind"]) in turned_off:
            status, error = "suppressed", "turned off by the person"
        elif not address:
            status, error = "skipped", "the person has no e-mail address"
        rows.append({
            "channel": "email", "kind": notice["kind"], "person_id": notice["person_id"],
            "address": address, "subject": notice["subject"][:300], "context": notice["context"],
            "idempotency_key": notice["key"], "mandatory": mandatory, "status": status,
            "last_error": error, "created_at": now, "not_before": release, "attempts": 0,
        })
    # Plain batched inserts (no RETURNING): the outbox names each notice by its key.
    session.execute(insert(Notification.__table__), rows)
    queued = [row["idempotency_key"] for row in rows if row["status"] == "queued"]
    if queued:
        session.execute(insert(OutboxMessage.__table__), [
            {"topic": EMAIL_TOPIC, "payload": {"key": key}, "created_at": now,
             "available_at": release, "attempts": 0, "status": "pending"} for key in queued])
    return queued


def may_see(uow: UnitOfWork, person_id: int) -> None:
    """The person themselves, or a reader of the quality system; others are refused."""
    actor = uow.actor
    if actor.person_id == person_id:
        return
    actor.require(*NOTICE_READERS, action="reading another person's notices")


def notifications_of(session: Session, person_id: int, *, limit: int = 200) -> list[dict[str, Any]]:
    """The notices sent (or skipped) to a person, newest first."""
    get_person(session, person_id)
    rows = session.scalars(select(Notification).where(Notification.person_id == person_id)
                           .order_by(Notification.id.desc()).limit(limit))
    return [{
        "id": n.id, "kind": n.kind, "channel": n.channel, "subject": n.subject,
        "address": n.address, "mandatory": n.mandatory, "status": n.status,
        "created_at": n.created_at, "not_before": n.not_before, "sent_at": n.sent_at,
        "attempts": n.attempts, "message_id": n.message_id, "last_error": n.last_error,
    } for n in rows]


def preferences_of(session: Session, person_id: int) -> dict[str, dict[str, bool]]:
    """Each notice kind: whether it is mandatory and whether the person gets it."""
    get_person(session, person_id)
    chosen = dict(session.execute(select(NotificationPreference.kind, NotificationPreference.enabled)
                                  .where(NotificationPreference.person_id == person_id)).all())
    return {kind: {"mandatory": mandatory, "enabled": mandatory or chosen.get(kind, True)}
            for kind, mandatory in KINDS.items()}


def set_preferences(uow: UnitOfWork, person_id: int, choices: dict[str, bool]) -> dict[str, dict[str, bool]]:
    """Turn optional notices on or off for a person (themselves, or a supervisor for them).

    Mandatory notices cannot be turned off: asking to is refused (nothing is changed).
    """
    if uow.actor.person_id != person_id:
        uow.actor.require("supervisor", action="changing another person's notices")
    session = uow.session
    get_person(session, person_id)
    for kind, enabled in choices.items():
        if kind not in KINDS:
            raise ValidationFailed(f"unknown notice kind {kind!r}", field=kind)
        if KINDS[kind] and not enabled:
            raise Forbidden(f"{kind} notices are mandatory: they cannot be turned off", field=kind,
                            code="mandatory_notice")
    with uow.because("notification preferences"):
        for kind, enabled in choices.items():
            current = session.scalar(select(NotificationPreference).where(
                NotificationPreference.person_id == person_id, NotificationPreference.kind == kind))
            if current is None:
                session.add(NotificationPreference(person_id=person_id, kind=kind, enabled=enabled))
            elif current.enabled != enabled:
                current.enabled, current.updated_at = enabled, uow.clock.now()
    return preferences_of(session, person_id)
