"""SCIM users: the identity provider's view of a person, applied to the organisation.

Mapping (docs/onboarding.md): ``userName``/``name``/``displayName``/``emails``/enterprise
``employeeNumber`` → the person; enterprise ``department`` → the department (matched by code, then
name; created when unknown); ``active: false`` → a leave with a reason, ``active: true`` → its end;
``DELETE`` → termination (the person and every record stay; the SCIM user then answers 404).
Creating a user hires them (employment and department from now, obligations assigned); group
membership (``qms.provisioning.groups``) sets the job functions. Each change re-evaluates the
person's obligations in the same transaction through ``qms.org.services`` and
``qms.training.compliance``, like the REST API.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from scim2_models import Context, PatchOp
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.core.people import Person, create_person, link_identity
from bridge.core.uow import UnitOfWork
from qms.org import services as org
from qms.org.models import Department, Employment, Leave, PersonDepartment
from qms.provisioning import resources
from qms.provisioning.models import ProvisioningClient, ScimGroup, ScimUser
from qms.provisioning.resources import USER, ScimRefusal
from qms.training import compliance

logger = logging.getLogger(__name__)

STORED_CONTEXT = Context.RESOURCE_CREATION_REQUEST
DEFERRED = "scim_deferred_obligations"


def defer_obligations(uow: UnitOfWork) -> dict[str, set[int]]:
    """Collect the people whose obligations change (a bulk request) instead of re-evaluating each time."""
    return uow.session.info.setdefault(DEFERRED, {"hired": set(), "moved": set()})


def apply_deferred_obligations(uow: UnitOfWork) -> None:
    """Re-evaluate the collected people's obligations once (same transaction), and stop deferring."""
    deferred = uow.session.info.pop(DEFERRED, None)
    if not deferred:
        return
    now = uow.clock.now()
    hired = sorted(deferred["hired"])
    moved = sorted(deferred["moved"] - deferred["hired"])
    if hired:
        compliance.sync_people(
            uow, hired, reason="new_hire", source_type="scim_bulk", source_id=None, now=now
        )
    if moved:
        compliance.sync_people(
            uow, moved, reason="role_change", source_type="scim_bulk", source_id=None, now=now
        )


def live_user(session: Session, scim_id: str, *, lock: bool = False) -> ScimUser:
    """The SCIM user ``scim_id`` that is not deleted, or 404."""
    query = select(ScimUser).where(ScimUser.scim_id == scim_id, ScimUser.deleted_at.is_(None))
    row = session.scalar(query.with_for_update(of=ScimUser) if lock else query)
    if row is None:
        raise ScimRefusal(f"no user {scim_id}", status=404, scim_type=None)
    return row


def display_name(user: Any) -> str:
    """The printed name: ``displayName``, else ``name.formatted``, else given and family name."""
    if user.display_name:
        return str(user.display_name)
    name = user.name
    if name is not None:
        if name.formatted:
            return str(name.formatted)
        parts = [p for p in (name.given_name, name.family_name) if p]
        if parts:
            return " ".join(parts)
    return str(user.user_name)


def primary_email(user: Any) -> str | None:
    """The primary e-mail (else the first), trimmed and lower-cased."""
    emails = [e for e in (user.emails or []) if e.value]
    chosen = next((e for e in emails if e.primary), emails[0] if emails else None)
    return str(chosen.value).strip().lower() if chosen else None


def _enterprise(user: Any) -> Any:
    """The enterprise extension of a user (scim2-models names it after its class), or ``None``."""
    return getattr(user, "EnterpriseUser", None)


def department_name(user: Any) -> str | None:
    """The enterprise extension's ``department``, trimmed, or ``None``."""
    extension = _enterprise(user)
    value = getattr(extension, "department", None) if extension is not None else None
    return str(value).strip() if value and str(value).strip() else None


def employee_number(user: Any) -> str | None:
    """The enterprise extension's ``employeeNumber``, trimmed, or ``None``."""
    extension = _enterprise(user)
    value = getattr(extension, "employee_number", None) if extension is not None else None
    return str(value).strip() if value and str(value).strip() else None


def department_for(uow: UnitOfWork, name: str) -> Department:
    """The department a SCIM ``department`` names (by code, then by name), created when unknown."""
    session = uow.session
    found = session.scalar(select(Department).where(func.lower(Department.code) == name.lower()))
    found = found or session.scalar(select(Department).where(func.lower(Department.name) == name.lower()))
    if found is not None:
        return found
    code = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:24] or "DEPT"
    if not code[0].isalnum():
        code = "D" + code
    while session.scalar(select(Department.id).where(Department.code == code)):
        code = f"{code[:24]}-{uuid.uuid4().hex[:6]}"
    with uow.because(f"department {name!r} provisioned by the identity provider"):
        return org.create_unit(uow, "department", code, name[:200])


def _check_unique(session: Session, user: Any, *, own_id: int | None = None) -> None:
    query = select(ScimUser.id).where(
        func.lower(ScimUser.user_name) == str(user.user_name).lower(), ScimUser.deleted_at.is_(None)
    )
    if own_id is not None:
        query = query.where(ScimUser.id != own_id)
    if session.scalar(query):
        raise ScimRefusal(
            f"the userName {user.user_name!r} is already used", status=409, scim_type="uniqueness"
        )


def stored(user: Any) -> dict[str, Any]:
    """The user as stored (the request's attributes, without id, meta, groups and password)."""
    data = user.model_dump(scim_ctx=STORED_CONTEXT)
    for key in ("id", "meta", "groups", "password"):
        data.pop(key, None)
    return data


def _sync_person(uow: UnitOfWork, person: Person, user: Any) -> None:
    """Name, e-mail and employee number follow the identity provider (audited updates)."""
    name = display_name(user)[:200]
    email = primary_email(user)
    number = employee_number(user)
    with uow.because("updated by the identity provider (SCIM)"):
        if person.display_name != name:
            person.display_name = name
        if email and person.email != email:
            person.email = email
            link_identity(uow.session, person, "mbox", "", email)
        if number and person.employee_no != number:
            taken = uow.session.scalar(
                select(Person.id).where(Person.employee_no == number, Person.id != person.id)
            )
            if taken:
                raise ScimRefusal(
                    f"employee number {number} is already another person's",
                    status=409,
                    scim_type="uniqueness",
                )
            person.employee_no = number


def _employ(uow: UnitOfWork, person: Person, department_id: int | None) -> None:
    """Hire: employment and department from now, obligations assigned (job functions come with groups)."""
    now = uow.clock.now()
    with uow.because("hired through the identity provider (SCIM)"):
        person.active = True
        uow.session.add(Employment(person_id=person.id, hired_at=now))
        if department_id is not None:
            uow.session.add(
                PersonDepartment(person_id=person.id, department_id=department_id, valid_from=now)
            )
    deferred = uow.session.info.get(DEFERRED)
    if deferred is not None:
        deferred["hired"].add(person.id)
        return
    compliance.sync_people(
        uow, [person.id], reason="new_hire", source_type="person", source_id=person.id, now=now
    )


def create_user(uow: UnitOfWork, client: ProvisioningClient | None, payload: dict[str, Any]) -> ScimUser:
    """POST /Users: create (or re-hire, matched by employee number) a person and hire them."""
    session = uow.session
    user = resources.parse(USER, payload, Context.RESOURCE_CREATION_REQUEST)
    _check_unique(session, user)
    number = employee_number(user)
    person = session.scalar(select(Person).where(Person.employee_no == number)) if number else None
    if person is not None and org.employment_of(session, person.id) is not None:
        raise ScimRefusal(
            f"employee number {number} is already provisioned and employed",
            status=409,
            scim_type="uniqueness",
        )
    if person is None:
        name = display_name(user)[:200]
        person = create_person(session, name, email=primary_email(user), employee_no=number)
    _sync_person(uow, person, user)
    department = department_name(user)
    department_id = department_for(uow, department).id if department else None
    _employ(uow, person, department_id)
    now = uow.clock.now()
    row = ScimUser(
        scim_id=str(uuid.uuid4()),
        person_id=person.id,
        client_id=client.id if client else None,
        user_name=str(user.user_name),
        external_id=user.external_id,
        resource=stored(user),
        version=1,
        created_at=now,
        updated_at=now,
    )
    with uow.because("provisioned by the identity provider (SCIM)"):
        session.add(row)
    if user.active is False:
        org.start_leave(uow, person.id, reason=leave_reason(client))
    logger.info("SCIM user %s created for person %s", row.scim_id, person.id)
    return row


def leave_reason(client: ProvisioningClient | None) -> str:
    """Why a person went on leave through SCIM."""
    who = client.name if client else "the identity provider"
    return f"deactivated by {who} (SCIM active=false)"


def _apply(uow: UnitOfWork, row: ScimUser, client: ProvisioningClient | None, user: Any) -> ScimUser:
    """Make the organisation follow a replaced or patched user, then store it."""
    session = uow.session
    _check_unique(session, user, own_id=row.id)
    person = session.get(Person, row.person_id)
    assert person is not None
    _sync_person(uow, person, user)
    employed = org.employment_of(session, person.id) is not None
    on_leave = session.scalar(select(Leave.id).where(Leave.person_id == person.id, Leave.ends_at.is_(None)))
    department = department_name(user)
    if department and employed:
        wanted = department_for(uow, department).id
        current = org.current_memberships(session, person.id, uow.clock.now())["department"]
        if [m.department_id for m in current] != [wanted]:
            org.transfer(uow, person.id, wanted, reason="department changed by the identity provider (SCIM)")
    if employed and user.active is False and not on_leave:
        org.start_leave(uow, person.id, reason=leave_reason(client))
    elif employed and user.active is not False and on_leave:
        org.end_leave(uow, person.id, reason="reactivated by the identity provider (SCIM active=true)")
    with uow.because("updated by the identity provider (SCIM)"):
        row.user_name = str(user.user_name)
        row.external_id = user.external_id
        row.resource = stored(user)
        row.version += 1
        row.updated_at = uow.clock.now()
    return row


def check_version(row: Any, if_match: str | None) -> None:
    """Refuse a change whose ``If-Match`` names another version (412)."""
    if if_match and if_match.strip() != "*" and f'W/"{row.version}"' not in if_match:
        raise ScimRefusal("the resource changed since it was read (If-Match)", status=412, scim_type=None)


def replace_user(
    uow: UnitOfWork,
    client: ProvisioningClient | None,
    scim_id: str,
    payload: dict[str, Any],
    *,
    if_match: str | None = None,
) -> ScimUser:
    """PUT /Users/{id}."""
    row = live_user(uow.session, scim_id, lock=True)
    check_version(row, if_match)
    user = resources.parse(USER, payload, Context.RESOURCE_REPLACEMENT_REQUEST)
    return _apply(uow, row, client, user)


def patch_user(
    uow: UnitOfWork,
    client: ProvisioningClient | None,
    scim_id: str,
    payload: dict[str, Any],
    *,
    if_match: str | None = None,
) -> ScimUser:
    """PATCH /Users/{id}: add, replace, remove (``active`` included), applied as one change."""
    row = live_user(uow.session, scim_id, lock=True)
    check_version(row, if_match)
    patch = resources.parse(PatchOp[USER], payload, Context.RESOURCE_PATCH_REQUEST)
    user = USER.model_validate(row.resource, scim_ctx=STORED_CONTEXT)
    patch.patch(user)
    return _apply(uow, row, client, user)


def delete_user(
    uow: UnitOfWork, client: ProvisioningClient | None, scim_id: str, *, if_match: str | None = None
) -> ScimUser:
    """DELETE /Users/{id}: terminate the employment; the person and their records stay."""
    session = uow.session
    row = live_user(session, scim_id, lock=True)
    check_version(row, if_match)
    who = client.name if client else "the identity provider"
    if org.employment_of(session, row.person_id) is not None:
        org.terminate(uow, row.person_id, reason=f"deprovisioned by {who} (SCIM DELETE)")
    with uow.because(f"deprovisioned by {who} (SCIM DELETE)"):
        row.deleted_at = uow.clock.now()
        for group in session.scalars(select(ScimGroup).where(ScimGroup.deleted_at.is_(None))):
            if row.scim_id in (group.member_ids or []):
                group.member_ids = [m for m in group.member_ids if m != row.scim_id]
                group.version += 1
    return row


def groups_of(session: Session, scim_ids: list[str]) -> dict[str, list[ScimGroup]]:
    """The live groups each user is a member of."""
    found: dict[str, list[ScimGroup]] = {sid: [] for sid in scim_ids}
    wanted = set(scim_ids)
    for group in session.scalars(
        select(ScimGroup).where(ScimGroup.deleted_at.is_(None)).order_by(ScimGroup.id)
    ):
        for member in group.member_ids or []:
            if member in wanted:
                found[member].append(group)
    return found


def to_resource(session: Session, row: ScimUser, base: str, groups: list[ScimGroup] | None = None) -> Any:
    """The served User resource of a row (id, meta and groups added)."""
    user = USER.model_validate(row.resource, scim_ctx=STORED_CONTEXT)
    user.id = row.scim_id
    user.meta = resources.meta(
        "User", f"{base}/Users/{row.scim_id}", row.created_at, row.updated_at, row.version
    )
    groups = groups if groups is not None else groups_of(session, [row.scim_id])[row.scim_id]
    if groups:
        user.groups = [
            {
                "value": g.scim_id,
                "display": g.display_name,
                "type": "direct",
                "$ref": f"{base}/Groups/{g.scim_id}",
            }
            for g in groups
        ]
    return user


def search_users(
    session: Session, base: str, filter_text: str | None, start: int, count: int, params: Any = None
) -> dict[str, Any]:
    """GET /Users: filtered (``eq`` on userName/externalId/displayName through the index), paged."""
    query = select(ScimUser).where(ScimUser.deleted_at.is_(None)).order_by(ScimUser.id)
    simple = resources.simple_equality(filter_text)
    if simple is not None and simple[0] in ("username", "externalid"):
        column = ScimUser.user_name if simple[0] == "username" else ScimUser.external_id
        query = (
            query.where(func.lower(column) == simple[1].lower())
            if simple[0] == "username"
            else query.where(column == simple[1])
        )
        rows = list(session.scalars(query))
        matched = [to_resource(session, r, base) for r in rows]
    else:
        compiled = resources.compile_filter(USER, filter_text)
        rows = list(session.scalars(query))
        memberships = groups_of(session, [r.scim_id for r in rows])
        matched = [to_resource(session, r, base, memberships[r.scim_id]) for r in rows]
        if compiled is not None:
            matched = [u for u in matched if compiled.match(u)]
    page = matched[start - 1 : start - 1 + count]
    return resources.list_response(USER, page, len(matched), start, params)
