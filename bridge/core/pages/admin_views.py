"""Administration pages (``/console/admin``): users and their roles, lockouts (unlock with a
reason), API tokens (issued with the secret shown once; revoked) and the policy settings.

Every change goes through ``bridge.core.accounts`` (audited, administrators only). The policy is
configured in the environment (``GXPBRIDGE_*``, ``GXPBRIDGE_QMS_*``); the password, lockout,
idle sign-out and effective-date gate values may be changed here by an administrator
(``bridge.core.policy_store``: stored overrides, audited, in force from the next request).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from bridge.core import accounts, policy_store
from bridge.core.accounts import ApiToken, UserAccount
from bridge.core.console import console_page
from bridge.core.console.tables import Column, paginate, table_request
from bridge.core.errors import NotFound, ValidationFailed
from bridge.core.people import Person
from bridge.core.settings import Settings
from bridge.core.uow import UnitOfWork

logger = logging.getLogger(__name__)

ADMINS = ("administrator",)

pages = Blueprint("admin_console", __name__, url_prefix="/console/admin",
                  template_folder="templates")

USER_COLUMNS = [
    Column("username", "User name", sort=UserAccount.username),
    Column("name", "Name", sort=Person.display_name),
    Column("roles", "Roles"),
    Column("state", "State"),
    Column("created_at", "Created (UTC)", sort=UserAccount.created_at),
]


def _user(session: Any, user_id: int) -> UserAccount:
    user = session.get(UserAccount, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}", field="user_id")
    return user


def _reason() -> str:
    reason = request.form.get("reason", "").strip()
    if not reason:
        raise ValidationFailed("give the reason for this change (it goes into the audit trail)",
                               field="reason")
    return reason


@pages.get("/users")
@console_page(*ADMINS)
def users(uow: UnitOfWork) -> Any:
    """Every account with its roles and lockout state; filter by name or locked."""
    table = table_request(USER_COLUMNS, default_sort="username")
    stmt = select(UserAccount).join(Person, Person.id == UserAccount.person_id)
    if q := request.args.get("q", "").strip():
        like = f"%{q.lower()}%"
        stmt = stmt.where(UserAccount.username.like(like) | Person.display_name.ilike(like))
    if request.args.get("state") == "locked":
        stmt = stmt.where(UserAccount.locked_at.is_not(None))
    elif request.args.get("state") == "inactive":
        stmt = stmt.where(UserAccount.active.is_(False))
    page = paginate(uow.session, stmt, table, tiebreak=[UserAccount.id])
    return render_template("core_console/admin_users.html", page=page, columns=USER_COLUMNS,
                           table=table, page_title="Users and roles")


@pages.get("/users/<int:user_id>")
@console_page(*ADMINS)
def user(user_id: int, uow: UnitOfWork) -> Any:
    """One account: roles, lockout, API tokens."""
    account = _user(uow.session, user_id)
    tokens = list(uow.session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)
                                      .order_by(ApiToken.id.desc())))
    return render_template("core_console/admin_user.html", account=account, tokens=tokens,
                           all_roles=accounts.ROLES, issued=None,
                           page_title=f"User {account.username}")


@pages.post("/users/<int:user_id>/roles")
@console_page(*ADMINS)
def set_roles(user_id: int, uow: UnitOfWork) -> Any:
    """Replace the account's roles (audited with the reason)."""
    account = _user(uow.session, user_id)
    roles = request.form.getlist("roles")
    if not roles:
        raise ValidationFailed("a user needs at least one role", field="roles")
    accounts.set_roles(uow, account, roles, _reason())
    flash(f"Roles of {account.username} set to {', '.join(sorted(roles))}.")
    return redirect(url_for(".user", user_id=user_id), code=303)


@pages.post("/users/<int:user_id>/unlock")
@console_page(*ADMINS)
def unlock(user_id: int, uow: UnitOfWork) -> Any:
    """Lift a lockout with a reason (audited)."""
    account = _user(uow.session, user_id)
    accounts.unlock(uow, account, _reason())
    logger.info("%s unlocked %s", uow.actor.username, account.username)
    flash(f"{account.username} is unlocked.")
    return redirect(url_for(".user", user_id=user_id), code=303)


@pages.post("/users/<int:user_id>/tokens")
@console_page(*ADMINS)
def issue_token(user_id: int, uow: UnitOfWork) -> Any:
    """Issue an API token; its secret is shown on this response only and never stored."""
    account = _user(uow.session, user_id)
    label = request.form.get("label", "").strip()[:200]
    if not label:
        raise ValidationFailed("name the token (what it is for)", field="label")
    with uow.because(f"API token issued: {label}"):
        issued = accounts.issue_token(uow, account, label)
    tokens = list(uow.session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)
                                      .order_by(ApiToken.id.desc())))
    response = current_app.make_response(render_template(
        "core_console/admin_user.html", account=account, tokens=tokens, all_roles=accounts.ROLES,
        issued=issued, page_title=f"User {account.username}"))
    response.headers["Cache-Control"] = "no-store"
    return response


@pages.post("/tokens/<int:token_id>/revoke")
@console_page(*ADMINS)
def revoke_token(token_id: int, uow: UnitOfWork) -> Any:
    """Revoke an API token at once (audited with the reason)."""
    row = accounts.revoke_token(uow, token_id, _reason())
    flash(f"Token {row.label or row.id} revoked.")
    return redirect(url_for(".user", user_id=row.user_id), code=303)


def _policy_page(uow: UnitOfWork, errors: dict[str, str] | None = None,
                 submitted: dict[str, str] | None = None, status: int = 200) -> Any:
    """The policy page: the values the console may change (with their source) and the rest."""
    site: Settings = current_app.extensions["gxpbridge.settings"]  # the environment's
    policies = current_app.extensions.get("gxpbridge.policies", {}).values()
    editable = policy_store.current(uow.session, site, policies)
    names = {row.editable.name for row in editable}
    rows = [
        ("Absolute session length (hours)", site.session_absolute_hours,
         "GXPBRIDGE_SESSION_ABSOLUTE_HOURS"),
        ("Audit checkpoint every (rows)", site.audit_checkpoint_rows,
         "GXPBRIDGE_AUDIT_CHECKPOINT_ROWS"),
    ]
    rows.extend(r for r in _registered_policies() if r[2] not in names)
    return render_template("core_console/admin_policy.html", rows=rows, editable=editable,
                           errors=errors or {}, submitted=submitted or {},
                           can_edit="administrator" in uow.actor.roles,
                           page_title="Policy settings"), status


@pages.get("/policy")
@console_page(*ADMINS, "auditor")
def policy(uow: UnitOfWork) -> Any:
    """The policy in force: the values an administrator may change here, and the rest (read-only:
    configured in the environment).
    """
    return _policy_page(uow)


@pages.post("/policy")
@console_page(*ADMINS)
def change_policy(uow: UnitOfWork) -> Any:
    """Change policy values (administrators): all validated before any is saved, each change
    audited with its old and new value; in force from the next request.
    """
    submitted = {e.name: request.form.get(e.name, "") for e in policy_store.EDITABLE
                 if e.name in request.form}
    reverted = request.form.getlist("revert")
    _parsed, errors = policy_store.validate_change(submitted, reverted)
    if not request.form.get("reason", "").strip():
        errors["reason"] = "give the reason for this change (it goes into the audit trail)"
    if errors:
        # Shown beside each field with what was typed; nothing was written.
        return _policy_page(uow, errors, submitted, status=400)
    changed = policy_store.change_settings(uow, submitted, request.form["reason"], revert=reverted)
    labels = ", ".join(policy_store.BY_NAME[name].label.lower() for name in changed)
    flash(f"Policy changed: {labels}." if changed else "Nothing changed: the values were already in force.")
    return redirect(url_for(".policy"), code=303)


def _registered_policies() -> list[tuple[str, Any, str]]:
    """The knobs of the policies packages registered (``register_policy``): label, value, variable."""
    found: list[tuple[str, Any, str]] = []
    for policy in current_app.extensions.get("gxpbridge.policies", {}).values():
        prefix = policy_store.env_prefix(policy)
        for field in type(policy).model_fields:
            label = field.replace("_", " ").capitalize()
            value = getattr(policy, field)
            found.append((label, value, f"{prefix}{field.upper()}"))
    return sorted(found)
