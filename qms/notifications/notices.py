"""The notices about assignments, found set-based at each sweep: the morning digest of new
assignments, reminders before the due date, overdue notices and escalations to the supervisor
and the department's QA contact. Each assignment is noticed once per stage (``NoticeMark``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, exists, insert, literal, select

from bridge.core.people import Person
from bridge.core.uow import UnitOfWork
from qms.notifications import services, webhooks
from qms.notifications.models import NoticeMark
from qms.notifications.policy import NotifyPolicy
from qms.org import supervisors
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment

logger = logging.getLogger(__name__)

NOT_LATE = ("open", "content_complete")


class Site:
    """What every notice needs: the moment, the policy, the time zone and the links."""

    def __init__(self, uow: UnitOfWork, now: dt.datetime | None = None) -> None:
        """Read the clock, the policy and the settings of ``uow``."""
        self.uow = uow
        self.now = now or uow.clock.now()
        self.policy = uow.policy(NotifyPolicy)
        self.zone = ZoneInfo(uow.settings.site_timezone)
        self.base = uow.settings.base_url.rstrip("/")
    def local(self, moment: dt.datetime | None) -> str | None:
        """A moment as the site reads it."""
        if moment is None:
            return None
        return f"{moment.astimezone(self.zone):%Y-%m-%d %H:%M} ({self.zone.key})"


def key_of(kind: str, recipient: int, ids: Iterable[int]) -> str:
    """A notice's idempotency key: its kind, its recipient and what it is about."""
    digest = hashlib.sha256(",".join(map(str, sorted(ids))).encode()).hexdigest()[:24]
    return f"{kind}:{recipient}:{digest}"


def unmarked(stage: str) -> ColumnElement[bool]:
    """Assignments not yet noticed at ``stage``."""
    return ~exists().where(NoticeMark.subject_type == "assignment", NoticeMark.stage == stage,
                           NoticeMark.subject_id == Assignment.id)


def found(site: Site, conditions: Sequence[ColumnElement[bool]]) -> list[Any]:
    """The assignments matching ``conditions``, by person and due date."""
    return site.uow.session.execute(
        select(Assignment.id, Assignment.person_id, Assignment.training_item_id, Assignment.due_at)
        .where(*conditions).order_by(Assignment.person_id, Assignment.due_at, Assignment.id)
    ).all()


def mark(session: Any, stage: str, conditions: Sequence[ColumnElement[bool]], rows: Sequence[Any],
         now: dt.datetime) -> None:
    """Record that the assignments in ``rows`` (found with ``conditions``) were noticed at ``stage``.

    One INSERT … SELECT with the same conditions, bounded by the highest id found.
    """
    if not rows:
        return
    top = max(r.id for r in rows)
    session.execute(insert(NoticeMark).from_select(
        ["subject_type", "subject_id", "stage", "created_at"],
        select(literal("assignment"), Assignment.id, literal(stage), literal(now, NoticeMark.created_at.type))
        .where(*conditions, Assignment.id <= top)))


def entry(site: Site, row: Any) -> int:
    """One assignment as a notice records it: its id (the mail shows it as it is when sent,
    :func:`qms.notifications.render.expand`).
    """
    return int(row.id)


def by_person(rows: Sequence[Any]) -> dict[int, list[Any]]:
    """Rows grouped by their person."""
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.person_id].append(row)
    return grouped


def _per_person(site: Site, kind: str, rows: Sequence[Any], subject: str,
                extra: dict[str, Any] | None = None, stage: str | None = None) -> list[dict[str, Any]]:
    return [{"kind": kind, "person_id": person_id,
             "subject": subject.format(n=len(group), s="s" if len(group) != 1 else ""),
             "key": key_of(stage or kind, person_id, (r.id for r in group)),
             "context": {"person_id": person_id, "assignments": [entry(site, r) for r in group],
                         **(extra or {})}}
            for person_id, group in by_person(rows).items()]


def digest(site: Site) -> int:
    """One digest per person of the assignments made before this morning's digest hour."""
    local = site.now.astimezone(site.zone)
    moment = local.replace(hour=site.policy.digest_hour, minute=0, second=0, microsecond=0)
    if local < moment:
        moment -= dt.timedelta(days=1)
    cutoff = moment.astimezone(dt.UTC)
    conditions = [Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES), Assignment.assigned_at < cutoff,
                  Assignment.assigned_at >= cutoff - dt.timedelta(days=site.policy.digest_lookback_days),
                  unmarked("assigned")]
    rows = found(site, conditions)
    notices = _per_person(site, "assignment_digest", rows, "{n} new training assignment{s}")
    services.queue_emails(site.uow, notices)
    mark(site.uow.session, "assigned", conditions, rows, site.now)
    return len(notices)


def reminders(site: Site) -> int:
    """Reminders of what falls due within each of the site's reminder days (the nearest stage)."""
    stages = sorted(set(site.policy.reminder_days))
    sent = 0
    for index, days in enumerate(stages):
        nearer = stages[index - 1] if index else None
        stage = f"remind_{days}"
        conditions = [Assignment.status.in_(NOT_LATE), Assignment.due_at > site.now,
                      Assignment.due_at <= site.now + dt.timedelta(days=days),
                      Assignment.assigned_at <= site.now - dt.timedelta(days=1), unmarked(stage)]
        if nearer is not None:
            conditions.append(Assignment.due_at > site.now + dt.timedelta(days=nearer))
        rows = found(site, conditions)
        notices = _per_person(site, "reminder", rows, f"Training due within {days} day{{s}}".replace(
            "{s}", "s" if days != 1 else ""), {"days": days}, stage)
        services.queue_emails(site.uow, notices)
        mark(site.uow.session, stage, conditions, rows, site.now)
        sent += len(notices)
    return sent


def overdue(site: Site) -> int:
    """Overdue notices to the people whose training is late (and the ``assignment.overdue`` webhook)."""
    conditions = [Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES), Assignment.due_at <= site.now,
                  unmarked("overdue")]
    rows = found(site, conditions)
    notices = _per_person(site, "overdue", rows, "OVERDUE: {n} training assignment{s}")
    services.queue_emails(site.uow, notices)
    mark(site.uow.session, "overdue", conditions, rows, site.now)
    webhooks.emit(site.uow, "assignment.overdue", [
        {"assignment_id": r.id, "person_id": r.person_id, "training_item_id": r.training_item_id,
         "due_at": r.due_at.isoformat() if r.due_at else None} for r in rows])
    return len(notices)


def escalations(site: Site) -> int:
    """Tell the supervisor and the department's QA contact of training overdue for N days."""
    days = site.policy.escalate_after_days
    conditions = [Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
                  Assignment.due_at <= site.now - dt.timedelta(days=days), unmarked("escalated")]
    session = site.uow.session
    rows = found(site, conditions)
    if not rows:
        return 0
    late = by_person(rows)
    contacts = supervisors.escalation_contacts(session, late, site.now)
    people_late = sorted(late)
    names: dict[int, str] = {}
    for start in range(0, len(people_late), 5000):
        names.update(session.execute(select(Person.id, Person.display_name).where(
            Person.id.in_(people_late[start:start + 5000]))).all())
    per_recipient: dict[int, list[int]] = defaultdict(list)
    for person_id, recipients in contacts.items():
        if not recipients:
            logger.warning("person %s has overdue training and nobody to escalate to", person_id)
        for recipient in recipients:
            per_recipient[recipient].append(person_id)
    notices = []
    for recipient, people in per_recipient.items():
        ids = [r.id for p in people for r in late[p]]
        notices.append({
            "kind": "escalation", "person_id": recipient, "key": key_of("escalation", recipient, ids),
            "subject": f"Escalation: overdue training of {len(people)} "
                       f"{'people' if len(people) != 1 else 'person'}",
            "context": {"person_id": recipient, "days": days, "people": [
                {"id": p, "name": names.get(p, f"person {p}"),
                 "assignments": [entry(site, r) for r in late[p]]} for p in people]}})
    services.queue_emails(site.uow, notices)
    mark(session, "escalated", conditions, rows, site.now)
    return len(notices)

