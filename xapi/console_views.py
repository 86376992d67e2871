"""Console pages of the record store (``/console/records``): the statement browser with the xAPI
filters (actor, verb, activity, registration, since/until) and each statement's raw JSON; the LRS
credentials (created with the secret shown once, scopes, revoked with a reason).

Inspection mode caps the statements at the moment (``stored`` at or before it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from bridge.core.console import as_of_or_now, console_as_of, console_page
from bridge.core.errors import ValidationFailed
from bridge.core.uow import UnitOfWork
from bridge.core.web import database, settings
from xapi import auth
from xapi import query as q

logger = logging.getLogger(__name__)

# Quality staff and auditors read the record store (administrators see everything).
STATEMENT_READERS = ("qa_author", "qa_approver", "trainer", "supervisor", "auditor")
ADMINS = ("administrator",)
PAGE_SIZE = 25
CONSOLE = auth.Principal(0, "console", frozenset({"all/read"}), {})

pages = Blueprint("records_console", __name__, url_prefix="/console/records",
                  template_folder="templates")


def _timestamp(raw: str, name: str) -> str | None:
    """A form's date or date-time (UTC) as an xAPI timestamp."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationFailed(f"{name}: give a date YYYY-MM-DD or a date and time",
                               field=name) from exc
    value = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _agent(raw: str) -> str | None:
    """The actor filter: the JSON of an Agent, or an e-mail address (an ``mbox`` Agent)."""
    raw = raw.strip()
    if not raw:
        return None
    if raw.startswith("{"):
        return raw
    mbox = raw if raw.startswith("mailto:") else f"mailto:{raw}"
    return json.dumps({"mbox": mbox})


def _query_args() -> dict[str, str]:
    args = request.args
    if args.get("more"):
        return {"more": args["more"]}
    found = {"agent": _agent(args.get("actor", "")), "verb": args.get("verb", "").strip() or None,
             "activity": args.get("activity", "").strip() or None,
             "registration": args.get("registration", "").strip() or None,
             "since": _timestamp(args.get("since", ""), "since"),
             "until": _timestamp(args.get("until", ""), "until"),
             "limit": str(PAGE_SIZE)}
    moment = console_as_of()
    if moment is not None:
        cap = _timestamp(moment.isoformat(), "as_of")
        found["until"] = min(found["until"], cap) if found["until"] else cap
    return {k: v for k, v in found.items() if v}


def _summary(body: str) -> dict[str, Any]:
    data = json.loads(body)
    actor = data.get("actor", {})
    who = actor.get("name") or actor.get("mbox") or (actor.get("account") or {}).get("name") or "?"
    verb = data.get("verb", {})
    display = verb.get("display") or {}
    target = data.get("object", {})
    return {"id": data.get("id"), "stored": data.get("stored"), "timestamp": data.get("timestamp"),
            "actor": who, "verb": next(iter(display.values()), None) or verb.get("id"),
            "object": target.get("id") or target.get("objectType"),
            "raw": json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)}


@pages.get("/statements")
@console_page(*STATEMENT_READERS)
def statements(uow: UnitOfWork) -> Any:
    """Statements newest first with the xAPI filters; each with its raw JSON (escaped)."""
    secret = current_app.config["SECRET_KEY"]
    query = q.parse_query(_query_args(), cursor_secret=secret)
    page = q.find_page(database(), query, CONSOLE)
    rows = [_summary(body) for body in page.bodies]
    more = q.more_token(query, page.last_seq, secret) if page.has_more and page.last_seq else None
    return render_template("xapi/console/statements.html", rows=rows, more=more,
                           moment=as_of_or_now(uow), page_title="Statements")


@pages.get("/credentials")
@console_page(*ADMINS)
def credentials(uow: UnitOfWork) -> Any:
    """Every LRS credential with its scopes and state."""
    return render_template("xapi/console/credentials.html",
                           credentials=auth.list_credentials(uow.session), scopes=auth.SCOPES,
                           issued=None, page_title="LRS credentials")


@pages.post("/credentials")
@console_page(*ADMINS)
def create_credential(uow: UnitOfWork) -> Any:
    """Create a credential; its secret is shown on this response only (never stored)."""
    with uow.because("LRS credential created from the console"):
        issued = auth.create_credential(
            uow, request.form.get("name", ""), scopes=request.form.getlist("scopes"),
            pepper=current_app.config["SECRET_KEY"], home_page=settings().base_url)
    response = current_app.make_response(render_template(
        "xapi/console/credentials.html", credentials=auth.list_credentials(uow.session),
        scopes=auth.SCOPES, issued=issued, page_title="LRS credentials"))
    response.headers["Cache-Control"] = "no-store"
    return response


@pages.post("/credentials/<int:credential_id>/revoke")
@console_page(*ADMINS)
def revoke_credential(credential_id: int, uow: UnitOfWork) -> Any:
    """Revoke a credential at once, with a reason (audited)."""
    reason = request.form.get("reason", "").strip()
    if not reason:
        raise ValidationFailed("give the reason for revoking", field="reason")
    row = uow.session.get(auth.LrsCredential, credential_id)
    if row is None:
        raise ValidationFailed(f"no LRS credential {credential_id}", field="credential_id")
    auth.revoke_credential(uow, row.key, reason)
    flash(f"LRS credential {row.name} revoked.")
    return redirect(url_for(".credentials"), code=303)
