"""The outbox senders of notices: e-mail (rendered at send time, sent once) and webhooks.

Sending an e-mail, exactly-once-ish (docs/notifications.md):

1. the relay claims the outbox message: ``sending`` with a lease, committed (other workers skip
   it until the lease ends; a worker that dies leaves it to be claimed again then);
2. the sender reads the notification without a write transaction: already ``sent`` (a worker
   died after sending, before the relay's mark) → nothing is sent again;
3. the SMTP server accepts the message, whose ``Message-ID`` derives from the idempotency key;
   at once ``sent`` (with the ``Message-ID``) is committed in a transaction of its own;
4. the relay marks the outbox message sent (one commit for the messages of a claim).

Only a crash between the server's acceptance (3) and the commit right after it sends the
message again on resume, with the same ``Message-ID``.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bridge.core.mail import Mail, send_then_mark, smtp_configured
from bridge.core.outbox import PermanentFailure
from bridge.core.people import Person
from bridge.core.uow import UnitOfWork
from qms.notifications.models import Notification
from qms.notifications.render import expand, render

logger = logging.getLogger(__name__)

FINAL = ("sent", "skipped", "suppressed", "failed")


_TABLE = Notification.__table__


def _set(uow: UnitOfWork, notification_id: int, **values: Any) -> None:
    uow.session.execute(update(_TABLE).where(_TABLE.c.id == notification_id).values(**values))


def send_email(uow: UnitOfWork, payload: dict[str, Any]) -> None:
    """Send the e-mail of the notice ``payload['key']`` (outbox sender)."""
    db = uow.db
    with db.read_sessions() as session:  # no write transaction is held while the server talks
        found = session.execute(
            select(Notification, Person.display_name)
            .outerjoin(Person, Person.id == Notification.person_id)
            .where(Notification.idempotency_key == payload["key"])
        ).first()
        if found is None:
            raise PermanentFailure(f"notice {payload['key']!r} does not exist")
        notice, person_name = found
        notification_id = notice.id
        if notice.status in FINAL:
            logger.info("notification %s already %s: not sent again", notice.id, notice.status)
            return
        settings = uow.settings
        shown = expand(session, dict(notice.context), base=settings.base_url.rstrip("/"),
                       zone=ZoneInfo(settings.site_timezone))
        data = {"status": notice.status, "kind": notice.kind, "address": notice.address,
                "subject": notice.subject, "key": notice.idempotency_key, "attempts": notice.attempts,
                "context": dict(notice.context), "mandatory": notice.mandatory,
                "person_name": person_name or ""}
    if not smtp_configured(settings):
        logger.info("no SMTP server configured (GXPBRIDGE_SMTP_HOST): notification %s skipped",
                    notification_id)
        _set(uow, notification_id, status="skipped", last_error="no SMTP server configured")
        return
    if data["attempts"] and data["status"] == "queued":
        logger.info("notification %s: attempt %d (same Message-ID)", notification_id, data["attempts"] + 1)
    context = {**shown, "person_name": data["person_name"], "site_name": settings.site_name,
               "base_url": settings.base_url.rstrip("/"), "subject": data["subject"],
               "mandatory": data["mandatory"]}
    text, html = render(data["kind"], context)
    calendar = data["context"].get("ics")
    mail = Mail(to=(data["address"],), subject=data["subject"], text=text, html=html,
                idempotency_key=data["key"],
                calendar=(calendar["body"], calendar["method"]) if calendar else None,
                headers={"X-GxPBridge-Notice": data["kind"]})
    attempts = data["attempts"] + 1
    max_attempts = settings.outbox_max_attempts

    sending_at = uow.clock.now()

    def sent(mark_uow: UnitOfWork, message_id: str) -> None:
        _set(mark_uow, notification_id, status="sent", message_id=message_id, sending_at=sending_at,
             sent_at=mark_uow.clock.now(), attempts=attempts, last_error=None)

    def failed(mark_uow: UnitOfWork, exc: BaseException) -> None:
        _set(mark_uow, notification_id, last_error=f"{type(exc).__name__}: {exc}", attempts=attempts,
             status="failed" if attempts >= max_attempts else "queued")

    send_then_mark(db, mail, sent, on_error=failed)
