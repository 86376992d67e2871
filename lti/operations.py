"""What the LTI console pages show about the tool's operation, and the one repair they offer.

- each platform's deployments with their last launch;
- each course's roster sync status: last sync, members by status, the last error of a roster
  sync the worker could not complete;
- the deliveries to the LMS (AGS scores, roster syncs) in the outbox, and a retry of a failed or
  dead one (administrators, audited with the reason and the message's state before and after).
"""

from __future__ import annotations

import datetime as dt
import logging
import typing as t
from dataclasses import dataclass, field

from sqlalchemy import Select, and_, func, literal, select
from sqlalchemy.orm import Session

from bridge.core import audit
from bridge.core.errors import Conflict, NotFound, ValidationFailed
from bridge.core.outbox import OutboxMessage
from bridge.core.uow import UnitOfWork
from lti.models import LtiContext, LtiContextMember, LtiDeployment, LtiLaunch
from lti.services import AGS_TOPIC, NRPS_TOPIC

logger = logging.getLogger(__name__)

TOPICS = {AGS_TOPIC: "AGS score", NRPS_TOPIC: "roster sync (NRPS)"}
# How many unsent roster messages are read to find each course's last error (a handful in
# practice: one pending request per course at most).
ROSTER_ERRORS_SCAN = 1000


def last_launches(session: Session, platform_ids: t.Sequence[int], *, counts: bool = False
                  ) -> dict[tuple[int, str], tuple[dt.datetime | None, int | None]]:
    """(platform id, deployment id) → (last launch time, number of launches when ``counts``).

    One query over the platforms' deployments; each figure is a subquery answered by the index
    on (platform, deployment, time), so the cost does not grow with the launches kept.
    """
    match = and_(LtiLaunch.platform_id == LtiDeployment.platform_id,
                 LtiLaunch.deployment_id == LtiDeployment.deployment_id)
    last = select(func.max(LtiLaunch.created_at)).where(match).scalar_subquery()
    number = select(func.count()).select_from(LtiLaunch).where(match).scalar_subquery() \
        if counts else literal(None)
    stmt = (select(LtiDeployment.platform_id, LtiDeployment.deployment_id, last, number)
            .where(LtiDeployment.platform_id.in_(platform_ids)))
    return {(p, d): (when, n) for p, d, when, n in session.execute(stmt)}


def platform_last_launch(launches: t.Mapping[tuple[int, str], tuple[dt.datetime, int]],
                         platform_id: int) -> dt.datetime | None:
    """The latest launch of any deployment of ``platform_id``."""
    times = [last for (p, _d), (last, _n) in launches.items() if p == platform_id and last]
    return max(times) if times else None


@dataclass
class RosterStatus:
    """A course's roster as the tool knows it."""

    context: LtiContext
    counts: dict[str, int] = field(default_factory=dict)  # membership status -> people
    error: str | None = None  # the last roster sync the worker could not complete
    error_status: str | None = None  # pending (will be retried) or dead
    error_message_id: int | None = None

    @property
    def members(self) -> int:
        """Members of every status."""
        return sum(self.counts.values())


def roster_status(session: Session, platform_id: int) -> list[RosterStatus]:
    """Every course of ``platform_id`` with its last sync, members by status and last error."""
    contexts = list(session.scalars(select(LtiContext).where(LtiContext.platform_id == platform_id)
                                    .order_by(LtiContext.title, LtiContext.id)))
    found = {c.id: RosterStatus(c) for c in contexts}
    if not found:
        return []
    for context_pk, status, count in session.execute(
            select(LtiContextMember.context_pk, LtiContextMember.status, func.count())
            .where(LtiContextMember.context_pk.in_(found))
            .group_by(LtiContextMember.context_pk, LtiContextMember.status)):
        found[context_pk].counts[status] = count
    # Unsent statuses by name: the outbox's (status, available_at) index finds them among the
    # many sent messages.
    failed = session.execute(
        select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.payload, OutboxMessage.last_error)
        .where(OutboxMessage.topic == NRPS_TOPIC,
               OutboxMessage.status.in_(("pending", "sending", "dead")),
               OutboxMessage.last_error.is_not(None))
        .order_by(OutboxMessage.id.desc()).limit(ROSTER_ERRORS_SCAN))
    for message_id, status, payload, error in failed:
        row = found.get(payload.get("context_pk"))
        if row is not None and row.error is None:
            row.error, row.error_status, row.error_message_id = error, status, message_id
    return list(found.values())


# -- deliveries (the outbox's LTI messages) -------------------------------------------------------

FAILED = and_(OutboxMessage.status == "pending", OutboxMessage.last_error.is_not(None))
STATES = {
    "failed": ("Failed, will be retried", FAILED),
    "dead": ("Dead (given up)", OutboxMessage.status == "dead"),
    "waiting": ("Waiting to be sent", and_(OutboxMessage.status.in_(("pending", "sending")),
                                          OutboxMessage.last_error.is_(None))),
    "sent": ("Sent", OutboxMessage.status == "sent"),
}


def deliveries(topic: str | None = None, state: str | None = None) -> Select[t.Any]:
    """The LTI messages of the outbox (AGS scores and roster syncs), newest first."""
    topics = [topic] if topic in TOPICS else list(TOPICS)
    stmt = select(OutboxMessage).where(OutboxMessage.topic.in_(topics))
    if state in STATES:
        stmt = stmt.where(STATES[state][1])
    return stmt


def delivery_state(message: OutboxMessage) -> str:
    """``failed``, ``dead``, ``waiting`` or ``sent``."""
    if message.status == "dead":
        return "dead"
    if message.status == "sent":
        return "sent"
    return "failed" if message.last_error else "waiting"


COUNTED = ("failed", "dead", "waiting")


def counts_by_state(session: Session) -> dict[str, int]:
    """How many LTI messages are failed, dead and waiting (each a probe of the outbox's status
    index; the sent ones, nearly all of a long-running site's outbox, are not counted).
    """
    return {state: session.scalar(select(func.count()).select_from(
        deliveries(state=state).subquery())) or 0 for state in COUNTED}


def retry_delivery(uow: UnitOfWork, message_id: int, reason: str) -> OutboxMessage:
    """Send a failed or dead LTI delivery again: due now, with a fresh count of attempts.

    Audited (``outbox_message.retry``) with the reason and the message's state before and after,
    in the caller's transaction; the worker's relay sends it at its next pass.

    Raises:
        Forbidden: The actor is not an administrator.
        ValidationFailed: No reason.
        NotFound: No LTI message ``message_id``.
        Conflict: The message has not failed (waiting, being sent, or sent).
    """
    uow.actor.require("administrator", action="retrying an LMS delivery")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("give the reason for the retry (it goes into the audit trail)",
                               field="reason")
    message = uow.session.get(OutboxMessage, message_id)
    if message is None or message.topic not in TOPICS:
        raise NotFound(f"no LMS delivery {message_id}", field="message_id")
    state = delivery_state(message)
    if state not in ("failed", "dead"):
        raise Conflict(f"delivery {message_id} has not failed ({state}): only a failed or dead "
                       "delivery is retried", field="message_id", code="not_failed")
    old = {"status": message.status, "attempts": message.attempts,
           "available_at": message.available_at, "last_error": message.last_error}
    now = uow.clock.now()
    message.status, message.attempts, message.available_at = "pending", 0, now
    message.last_error = None
    audit.record(uow, "outbox_message.retry", "outbox_message", message.id, old=old,
                 new={"status": "pending", "attempts": 0, "available_at": now, "last_error": None,
                      "topic": message.topic}, reason=reason)
    uow.flush()
    logger.info("%s retried LMS delivery %s (%s, was %s)", uow.actor.username, message.id,
                message.topic, state)
    return message

