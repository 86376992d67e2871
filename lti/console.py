"""The LTI pages of the quality console (``/console/lti``): platform registrations (by hand and
from Dynamic Registration) with their deployments, last launches and course rosters; one-time
registration links; the deliveries to the LMS (AGS scores, roster syncs) with a retry of a failed
one; and the LMS accounts whose e-mail matches a recorded person.

Administrators manage the LMS side (``lti.services`` requires the role in every change); the
auditor reads it. QA approvers resolve account matches. The former ``/lti/admin/`` pages redirect
here.
"""

from __future__ import annotations

import logging
import typing as t

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from bridge.core import people
from bridge.core.console import console_page, register_menu
from bridge.core.console.tables import Column, paginate, table_request
from bridge.core.errors import ValidationFailed
from bridge.core.outbox import OutboxMessage
from bridge.core.uow import UnitOfWork
from lti import operations, services
from lti.models import LtiPlatform, LtiRegistrationToken
from lti.views import tool_base_url

logger = logging.getLogger(__name__)

ADMINS = ("administrator",)
LMS_READERS = ("administrator", "auditor")
MATCH_RESOLVERS = ("qa_approver",)
MATCH_READERS = ("qa_approver", "auditor")

pages = Blueprint("lti_console", __name__, url_prefix="/console/lti", template_folder="templates")

PLATFORM_COLUMNS = [
    Column("id", "#", sort=LtiPlatform.id, numeric=True),
    Column("name", "Name", sort=LtiPlatform.name),
    Column("issuer", "Issuer", sort=LtiPlatform.issuer),
    Column("client_id", "Client id"),
    Column("registered_by", "Registered", sort=LtiPlatform.registered_by),
    Column("deployments", "Deployments", numeric=True),
    Column("last_launch", "Last launch (UTC)"),
    Column("state", "State", sort=LtiPlatform.active),
]
DELIVERY_COLUMNS = [
    Column("id", "#", sort=OutboxMessage.id, numeric=True),
    Column("topic", "What", sort=OutboxMessage.topic),
    Column("target", "To"),
    Column("state", "State", sort=OutboxMessage.status),
    Column("attempts", "Attempts", sort=OutboxMessage.attempts, numeric=True),
    Column("created_at", "Queued (UTC)", sort=OutboxMessage.created_at),
    Column("available_at", "Next attempt / sent (UTC)", sort=OutboxMessage.available_at),
    Column("error", "Last error"),
    Column("action", "Retry"),
]


def _reason() -> str:
    reason = request.form.get("reason", "").strip()
    if not reason:
        raise ValidationFailed("give the reason for this change (it goes into the audit trail)",
                               field="reason")
    return reason


def _int(name: str, label: str, default: int | None = None) -> int:
    raw = request.form.get(name, "").strip()
    if not raw and default is not None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationFailed(f"{label}: give a whole number", field=name) from None


# -- platforms ------------------------------------------------------------------------------------

@pages.get("/")
@console_page(*LMS_READERS)
def platforms(uow: UnitOfWork) -> t.Any:
    """Every registration (manual and dynamic) with its deployments and last launch."""
    table = table_request(PLATFORM_COLUMNS, default_sort="id")
    stmt = select(LtiPlatform)
    if request.args.get("state") in ("active", "removed"):
        stmt = stmt.where(LtiPlatform.active.is_(request.args["state"] == "active"))
    if request.args.get("registered_by") in ("manual", "dynamic"):
        stmt = stmt.where(LtiPlatform.registered_by == request.args["registered_by"])
    page = paginate(uow.session, stmt, table, tiebreak=[LtiPlatform.id])
    launches = operations.last_launches(uow.session, [p.id for p in page.items])
    last = {p.id: operations.platform_last_launch(launches, p.id) for p in page.items}
    return render_template("lti/console/platforms.html", page=page, columns=PLATFORM_COLUMNS,
                           table=table, last=last, base_url=tool_base_url().rstrip("/"),
                           can_edit="administrator" in uow.actor.roles,
                           delivery_counts=operations.counts_by_state(uow.session),
                           page_title="LMS platforms (LTI 1.3)")


@pages.post("/platforms")
@console_page(*ADMINS)
def add_platform(uow: UnitOfWork) -> t.Any:
    """Register an LMS by hand (issuer, client id, deployments, its URLs and key)."""
    form = request.form
    platform = services.add_platform(
        uow, issuer=form.get("issuer", ""), client_id=form.get("client_id", ""),
        deployment_ids=form.get("deployment_ids", "").replace(",", " ").split(),
        auth_login_url=form.get("auth_login_url", ""), auth_token_url=form.get("auth_token_url", ""),
        keyset_url=form.get("keyset_url") or None, public_key_pem=form.get("public_key") or None,
        name=form.get("name", ""))
    flash(f"Platform {platform.issuer} registered (id {platform.id}).")
    return redirect(url_for(".platform", platform_id=platform.id), code=303)


@pages.get("/platforms/<id:platform_id>")
@console_page(*LMS_READERS)
def platform(platform_id: int, uow: UnitOfWork) -> t.Any:
    """One registration: its facts, deployments with their last launch, courses and rosters."""
    row = services.get_platform(uow.session, platform_id)
    launches = operations.last_launches(uow.session, [row.id], counts=True)
    return render_template("lti/console/platform.html", platform=row, launches=launches,
                           rosters=operations.roster_status(uow.session, row.id),
                           can_edit="administrator" in uow.actor.roles,
                           page_title=f"LMS platform {row.name or row.issuer}")


@pages.post("/platforms/<id:platform_id>/deployments")
@console_page(*ADMINS)
def add_deployment(platform_id: int, uow: UnitOfWork) -> t.Any:
    """Add a deployment id to a registration (audited)."""
    deployment = services.add_deployment(uow, platform_id, request.form.get("deployment_id", ""))
    flash(f"Deployment {deployment.deployment_id} added.")
    return redirect(url_for(".platform", platform_id=platform_id), code=303)


@pages.post("/platforms/<id:platform_id>/remove")
@console_page(*ADMINS)
def remove_platform(platform_id: int, uow: UnitOfWork) -> t.Any:
    """Deactivate a registration with a reason (audited); its launches are refused from now on."""
    row = services.remove_platform(uow, platform_id, _reason())
    flash(f"Platform {row.issuer} removed: its launches are refused from now on.")
    return redirect(url_for(".platforms"), code=303)


# -- registration links (Dynamic Registration) --------------------------------------------------

def _tokens_page(uow: UnitOfWork, new_url: str | None = None) -> t.Any:
    tokens = list(uow.session.scalars(select(LtiRegistrationToken)
                                      .order_by(LtiRegistrationToken.id.desc()).limit(50)))
    response = current_app.make_response(render_template(
        "lti/console/tokens.html", tokens=tokens, now=uow.clock.now(), new_url=new_url,
        can_edit="administrator" in uow.actor.roles, page_title="LTI registration links"))
    if new_url:
        response.headers["Cache-Control"] = "no-store"  # the one-time secret is in this page
    return response


@pages.get("/registration-links")
@console_page(*LMS_READERS)
def tokens(uow: UnitOfWork) -> t.Any:
    """The one-time Dynamic Registration links: who made them, until when, used by which LMS."""
    return _tokens_page(uow)


@pages.post("/registration-links")
@console_page(*ADMINS)
def create_token(uow: UnitOfWork) -> t.Any:
    """Create a registration link; its secret is shown on this response only, never stored."""
    row, secret = services.create_registration_token(
        uow, label=request.form.get("label", "").strip(), hours=_int("hours", "Valid for (hours)", 24))
    flash(f"Registration link created, valid until {row.expires_at:%Y-%m-%d %H:%M} UTC.")
    return _tokens_page(uow, f"{tool_base_url().rstrip('/')}/lti/register?gxp_token={secret}")


# -- deliveries to the LMS (outbox) ------------------------------------------------------------

@pages.get("/deliveries")
@console_page(*LMS_READERS)
def deliveries(uow: UnitOfWork) -> t.Any:
    """AGS scores and roster syncs in the outbox; failed and dead ones can be retried."""
    table = table_request(DELIVERY_COLUMNS, default_sort="id", default_descending=True)
    stmt = operations.deliveries(request.args.get("topic"), request.args.get("state"))
    page = paginate(uow.session, stmt, table, tiebreak=[OutboxMessage.id])
    platform_ids = {m.payload.get("platform_id") for m in page.items} - {None}
    names = {p.id: p.name or p.issuer for p in uow.session.scalars(
        select(LtiPlatform).where(LtiPlatform.id.in_(platform_ids)))} if platform_ids else {}
    return render_template("lti/console/deliveries.html", page=page, columns=DELIVERY_COLUMNS,
                           table=table, names=names, topics=operations.TOPICS,
                           states=operations.STATES, state_of=operations.delivery_state,
                           counts=operations.counts_by_state(uow.session),
                           can_edit="administrator" in uow.actor.roles,
                           page_title="Deliveries to the LMS (AGS, roster)")


@pages.post("/deliveries/<id:message_id>/retry")
@console_page(*ADMINS)
def retry(message_id: int, uow: UnitOfWork) -> t.Any:
    """Send a failed or dead delivery again at the worker's next pass (audited with the reason)."""
    message = operations.retry_delivery(uow, message_id, request.form.get("reason", ""))
    flash(f"Delivery {message.id} queued again: the worker sends it at its next pass.")
    return redirect(url_for(".deliveries"), code=303)


# -- LMS accounts matching a recorded person --------------------------------------------------

@pages.get("/account-matches")
@console_page(*MATCH_READERS)
def identities(uow: UnitOfWork) -> t.Any:
    """LMS accounts whose e-mail matches a recorded person, pending and resolved."""
    matches = services.list_matches(uow.session, include_resolved=True)
    ids = {m.candidate_person_id for m in matches}
    names = {p.id: p.display_name for p in uow.session.scalars(
        select(people.Person).where(people.Person.id.in_(ids)))} if ids else {}
    return render_template("lti/console/identities.html", matches=matches, names=names,
                           can_edit=uow.actor.has_role(*MATCH_RESOLVERS),
                           page_title="LMS accounts matching a recorded person")


@pages.post("/account-matches/<id:match_id>/confirm", defaults={"action": "confirm"})
@pages.post("/account-matches/<id:match_id>/reject", defaults={"action": "reject"})
@console_page(*MATCH_RESOLVERS)
def resolve_match(match_id: int, action: str, uow: UnitOfWork) -> t.Any:
    """Confirm (link the LMS account to the recorded person) or reject a match, with evidence."""
    reason = request.form.get("reason", "")
    if action == "confirm":
        person = services.confirm_match(uow, match_id, reason)
        flash(f"Match {match_id} confirmed: linked to {person.display_name}.")
    else:
        services.reject_match(uow, match_id, reason)
        flash(f"Match {match_id} rejected.")
    return redirect(url_for(".identities"), code=303)


def init_app(app: Flask) -> None:
    """Serve the LTI console pages and add them to the navigation."""
    app.register_blueprint(pages)
    register_menu(app, "Administration", "LMS platforms (LTI)", "lti_console.platforms",
                  roles=LMS_READERS, order=30)
    register_menu(app, "Administration", "LTI registration links", "lti_console.tokens",
                  roles=LMS_READERS, order=31)
    register_menu(app, "Administration", "Deliveries to the LMS", "lti_console.deliveries",
                  roles=LMS_READERS, order=32)
    register_menu(app, "Records", "LMS account matches", "lti_console.identities",
                  roles=MATCH_READERS, order=40)
