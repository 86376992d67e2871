"""``/api/v1`` routes of notifications: a person's notices and preferences, supervisors and QA
contacts, webhook subscriptions.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bridge.core.uow import UnitOfWork
from qms.api import api
from qms.notifications import services, webhooks
from qms.notifications.models import WebhookSubscription
from qms.notifications.schemas import PreferencesUpdate, QaContactUpdate, SupervisorUpdate, WebhookCreate
from qms.org import services as org
from qms.org import supervisors
from qms.roles import ORG_MANAGERS

TAGS = ["notifications"]


@api.route("GET", "/people/{person_id}/notifications", summary="The notices sent to a person",
           tags=TAGS, roles=None)
def person_notifications(person_id: int, uow: UnitOfWork) -> list[dict[str, Any]]:
    """To whom, what, when and with what result (newest first); the person or a QA reader."""
    services.may_see(uow, person_id)
    return services.notifications_of(uow.session, person_id)


@api.route("GET", "/people/{person_id}/notification-preferences", summary="A person's notice preferences",
           tags=TAGS, roles=None)
def get_preferences(person_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """Each notice kind: mandatory or not, and whether the person gets it."""
    services.may_see(uow, person_id)
    return services.preferences_of(uow.session, person_id)


@api.route("PUT", "/people/{person_id}/notification-preferences", summary="Turn optional notices on or off",
           tags=TAGS, roles=None, body=PreferencesUpdate)
def put_preferences(person_id: int, body: PreferencesUpdate, uow: UnitOfWork) -> dict[str, Any]:
    """The person (or a supervisor) chooses; mandatory notices are refused with 403."""
    return services.set_preferences(uow, person_id, body.choices)


@api.route("PUT", "/people/{person_id}/supervisor", summary="Set a person's supervisor",
           tags=["organisation"], roles=ORG_MANAGERS, body=SupervisorUpdate)
def put_supervisor(person_id: int, body: SupervisorUpdate, uow: UnitOfWork) -> dict[str, Any]:
    """From now on (the previous one's link ends; audited with the reason)."""
    supervisors.set_supervisor(uow, person_id, body.supervisor_person_id, reason=body.reason)
    return {"person_id": person_id,
            "supervisor_person_id": supervisors.supervisor_of(uow.session, person_id, uow.clock.now())}


@api.route("PUT", "/departments/{department_id}/qa-contact", summary="Set a department's QA contact",
           tags=["organisation"], roles=ORG_MANAGERS, body=QaContactUpdate)
def put_qa_contact(department_id: int, body: QaContactUpdate, uow: UnitOfWork) -> dict[str, Any]:
    """From now on (the previous one's link ends; audited with the reason)."""
    org.get_unit(uow.session, "department", department_id)
    supervisors.set_qa_contact(uow, department_id, body.person_id, reason=body.reason)
    return {"department_id": department_id, "qa_contact_person_id": body.person_id}


def _subscription(subscription: WebhookSubscription) -> dict[str, Any]:
    return {"id": subscription.id, "name": subscription.name, "url": subscription.url,
            "events": subscription.events, "active": subscription.active,
            "created_at": subscription.created_at}


@api.route("POST", "/webhook-subscriptions", summary="Subscribe a URL to signed webhook events",
           tags=TAGS, roles=webhooks.ADMINS, body=WebhookCreate, status=201)
def create_subscription(body: WebhookCreate, uow: UnitOfWork) -> dict[str, Any]:
    """The response carries the signing secret, shown this once."""
    subscription, secret = webhooks.add_subscription(uow, name=body.name, url=body.url, events=body.events)
    return {**_subscription(subscription), "secret": secret}


@api.route("GET", "/webhook-subscriptions", summary="List webhook subscriptions", tags=TAGS,
           roles=webhooks.ADMINS)
def list_subscriptions(uow: UnitOfWork) -> list[dict[str, Any]]:
    """Every subscription, without secrets."""
    return [_subscription(s) for s in uow.session.scalars(select(WebhookSubscription)
                                                          .order_by(WebhookSubscription.id))]


@api.route("POST", "/webhook-subscriptions/{subscription_id}/deactivate",
           summary="End a webhook subscription", tags=TAGS, roles=webhooks.ADMINS)
def deactivate_subscription(subscription_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """Nothing more is sent to it."""
    return _subscription(webhooks.deactivate(uow, subscription_id))
