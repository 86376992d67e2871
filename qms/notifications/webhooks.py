"""Signed webhooks: JSON events POSTed to the subscribed URLs through the outbox.

Each request carries ``X-GxPBridge-Timestamp`` (Unix seconds), ``X-GxPBridge-Delivery`` (a
unique id) and ``X-GxPBridge-Signature: sha256=<hex>``, the HMAC-SHA256 with the subscription's
secret over ``<timestamp>.<body>``. Receivers check it with :func:`verify_signature` (the recipe
in docs/notifications.md) and refuse old timestamps and deliveries already seen (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import insert, select, update

from bridge.core.errors import NotFound, ValidationFailed
from bridge.core.outbox import OutboxMessage, PermanentFailure
from bridge.core.uow import UnitOfWork
from qms.notifications.models import WEBHOOK_EVENTS, Notification, WebhookSubscription
from qms.training.models import Assignment

logger = logging.getLogger(__name__)

WEBHOOK_TOPIC = "notify.webhook"
ADMINS = ("administrator",)
# Receivers refuse a signature older (or further in the future) than this.
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-GxPBridge-Signature`` value of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str, *, now: float,
                     tolerance: int = DEFAULT_TOLERANCE_SECONDS) -> bool:
    """Whether a received webhook is authentic and fresh (the receiver's check).

    Refuses a timestamp that is not a number or lies more than ``tolerance`` seconds from
    ``now``, and a signature that does not match (compared in constant time).
    """
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now - sent_at) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), signature or "")


def add_subscription(uow: UnitOfWork, *, name: str, url: str,
                     events: list[str]) -> tuple[WebhookSubscription, str]:
    """Create a subscription; returns it and its secret (shown once)."""
    uow.actor.require(*ADMINS, action="subscribing a webhook")
    unknown = sorted(set(events) - set(WEBHOOK_EVENTS))
    if unknown or not events:
        raise ValidationFailed(f"events must be among {', '.join(WEBHOOK_EVENTS)}", field="events")
    if not url.startswith(("https://", "http://")):
        raise ValidationFailed("the URL must be http(s)", field="url")
    secret = secrets.token_urlsafe(32)
    subscription = WebhookSubscription(name=name, url=url, secret=secret, events=sorted(set(events)))
    with uow.because("webhook subscribed"):
        uow.session.add(subscription)
    return subscription, secret


def deactivate(uow: UnitOfWork, subscription_id: int) -> WebhookSubscription:
    """Stop sending to a subscription (kept for the record)."""
    uow.actor.require(*ADMINS, action="ending a webhook subscription")
    subscription = uow.session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise NotFound(f"webhook subscription {subscription_id} does not exist")
    with uow.because("webhook unsubscribed"):
        subscription.active = False
    return subscription


def emit(uow: UnitOfWork, event: str, items: list[dict[str, Any]]) -> int:
    """Queue ``event`` for every active subscription to it: one delivery per item."""
    subscriptions = uow.session.execute(select(WebhookSubscription.id, WebhookSubscription.url,
                                               WebhookSubscription.events).where(
        WebhookSubscription.active.is_(True))).all()
    targets = [(sid, url) for sid, url, events in subscriptions if event in events]
    if not targets or not items:
        return 0
    now = uow.clock.now()
    rows = []
    for sid, url in targets:
        for item in items:
            delivery = str(uuid.uuid4())
            rows.append({"channel": "webhook", "kind": event, "person_id": None, "address": url,
                         "subject": event, "idempotency_key": f"webhook:{delivery}", "mandatory": True,
                         "status": "queued", "created_at": now, "attempts": 0,
                         "context": {"subscription_id": sid, "delivery": delivery, "event": event,
                                     "occurred_at": now.isoformat(), "data": item}})
    table = Notification.__table__
    ids = sorted(uow.session.scalars(insert(table).returning(table.c.id), rows))
    uow.session.execute(insert(OutboxMessage.__table__), [
        {"topic": WEBHOOK_TOPIC, "payload": {"notification_id": i}, "created_at": now,
         "available_at": now, "attempts": 0, "status": "pending"} for i in ids])
    return len(ids)


def send_webhook(uow: UnitOfWork, payload: dict[str, Any]) -> None:
    """POST one signed delivery (outbox sender); a 2xx answer marks it sent.

    The records are read without a write transaction, so none is held during the request.
    """
    notification_id = int(payload["notification_id"])
    with uow.db.read_sessions() as session:
        notice = session.get(Notification, notification_id)
        if notice is None:
            raise PermanentFailure(f"notification {notification_id} does not exist")
        subscription = session.get(WebhookSubscription, notice.context["subscription_id"])
        status, context = notice.status, dict(notice.context)
        target = (subscription.url, subscription.secret) if subscription and subscription.active else None
    if status == "sent":
        return
    table = Notification.__table__
    mark = update(table).where(table.c.id == notification_id)
    if target is None:
        uow.session.execute(mark.values(status="skipped", last_error="subscription ended"))
        return
    url, secret = target
    body = orjson.dumps({"id": context["delivery"], "event": context["event"],
                         "occurred_at": context["occurred_at"], "data": context["data"]})
    timestamp = int(uow.clock.now().timestamp())
    import requests  # only in the worker that sends (not in every `serve` process)

    response = requests.post(url, data=body, timeout=10, headers={
        "Content-Type": "application/json",
        "User-Agent": "GxP-Bridge-Webhooks/1",
        "X-GxPBridge-Event": context["event"],
        "X-GxPBridge-Delivery": context["delivery"],
        "X-GxPBridge-Timestamp": str(timestamp),
        "X-GxPBridge-Signature": sign(secret, timestamp, body),
    })
    if response.status_code >= 300:
        raise RuntimeError(f"webhook answered {response.status_code}")
    uow.session.execute(mark.values(status="sent", sent_at=uow.clock.now(), last_error=None,
                                    attempts=table.c.attempts + 1))

def _subscribed(uow: UnitOfWork, event: str) -> bool:
    return any(event in events for events in uow.session.scalars(
        select(WebhookSubscription.events).where(WebhookSubscription.active.is_(True))))


def assignments_created(uow: UnitOfWork, assignment_ids: Sequence[int]) -> None:
    """``assignment.created`` for each new assignment (called by qms.training.assignments)."""
    if not assignment_ids or not _subscribed(uow, "assignment.created"):
        return
    items = []
    for start in range(0, len(assignment_ids), 5000):
        for row in uow.session.execute(select(
                Assignment.id, Assignment.person_id, Assignment.training_item_id, Assignment.item_version_id,
                Assignment.reason, Assignment.due_at).where(
                Assignment.id.in_(assignment_ids[start:start + 5000]))):
            items.append({"assignment_id": row.id, "person_id": row.person_id,
                          "training_item_id": row.training_item_id, "item_version_id": row.item_version_id,
                          "reason": row.reason, "due_at": row.due_at.isoformat() if row.due_at else None})
    emit(uow, "assignment.created", items)


def training_completed(uow: UnitOfWork, *, completion_id: int, person_id: int, item_version_id: int,
                       assignment_ids: Sequence[int]) -> None:
    """``assignment.completed`` (called by qms.training.completions)."""
    if _subscribed(uow, "assignment.completed"):
        emit(uow, "assignment.completed", [
            {"completion_id": completion_id, "person_id": person_id, "item_version_id": item_version_id,
             "assignment_ids": list(assignment_ids)}])


def version_effective(uow: UnitOfWork, *, item_version_id: int, document_version_id: int | None) -> None:
    """``version.effective`` (called by qms.documents.effective_dates)."""
    if _subscribed(uow, "version.effective"):
        emit(uow, "version.effective", [
            {"item_version_id": item_version_id, "document_version_id": document_version_id}])


def capa_closed(uow: UnitOfWork, *, capa_id: int, number: str) -> None:
    """``capa.closed`` (called by qms.capa.lifecycle)."""
    if _subscribed(uow, "capa.closed"):
        emit(uow, "capa.closed", [{"capa_id": capa_id, "number": number}])
