"""Creating many SCIM users of a Bulk request together: the first load of a site.

A Bulk request of 1,000 ``POST /Users`` made each person with five flushes of their own (person,
identities, employment, department, SCIM user: about 5,000 flushes and as many lookups). Here a
run of such operations that are plain new hires is made with the same rows, the same audit
rows (captured at flush, with the same reasons) and the same ``IdentityLinked`` events, in a
handful of flushes.

An operation is *plain* when nothing about it needs the one-by-one path: a valid user, active,
whose ``userName``, employee number and e-mail (and its SHA-1) nobody holds yet, in the
database or elsewhere in the run, with no ``bulkId:`` reference in its data. Any other operation
goes through ``services.create_user`` as before, in order: the run is cut around it, so each
operation still sees exactly what the ones before it made. If anything goes wrong while a run
is written, its savepoint is rolled back and the run is done one by one (the errors are then
reported per operation, as before).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from scim2_models import Context
from sqlalchemy import func, select

from bridge.core.people import IdentityLinked, Person, PersonIdentity, mbox_sha1sum, normalise_identity
from bridge.core.uow import UnitOfWork
from qms.org.models import Employment, PersonDepartment
from qms.provisioning import resources, services
from qms.provisioning.models import ProvisioningClient, ScimUser
from qms.provisioning.resources import USER

logger = logging.getLogger(__name__)


@dataclass
class Plain:
    """A parsed ``POST /Users`` operation that can be made with others."""

    index: int
    operation: dict[str, Any]
    user: Any
    name: str
    user_name: str
    number: str | None
    email: str | None
    mbox: str | None
    sha: str | None
    department: str | None


def is_user_creation(operation: Any) -> bool:
    """A ``POST /Users`` whose data names no ``bulkId:`` (so it depends on no other operation)."""
    return (
        isinstance(operation, dict)
        and str(operation.get("method", "")).upper() == "POST"
        and operation.get("path") == "/Users"
        and isinstance(operation.get("data"), dict)
        and b"bulkId:" not in orjson.dumps(operation["data"])
    )


def _parse(index: int, operation: dict[str, Any]) -> Plain | None:
    try:
        user = resources.parse(USER, operation["data"], Context.RESOURCE_CREATION_REQUEST)
    except Exception:  # any refusal: the one-by-one path reports it the SCIM way
        return None
    if user.active is False:
        return None  # a leave starts with the creation: the one-by-one path
    name = services.display_name(user)[:200]
    if not name or name != name.strip():
        return None  # create_person would trim it and the sync then rename: one by one
    email = services.primary_email(user)
    mbox = sha = None
    if email:
        mbox = normalise_identity("mbox", "", email)[2]
        sha = mbox_sha1sum(mbox)
    return Plain(
        index=index,
        operation=operation,
        user=user,
        name=name,
        user_name=str(user.user_name),
        number=services.employee_number(user),
        email=email,
        mbox=mbox,
        sha=sha,
        department=services.department_name(user),
    )


def plain_users(uow: UnitOfWork, candidates: list[tuple[int, dict[str, Any]]]) -> dict[int, Plain]:
    """The candidates (index, operation) that are plain new hires, by index."""
    session = uow.session
    parsed = [p for p in (_parse(i, op) for i, op in candidates) if p is not None]
    if not parsed:
        return {}
    # Keys repeated within the run: the first one made wins in order, so all go one by one.
    counts: dict[tuple[str, str], int] = {}
    for p in parsed:
        for key in _keys(p):
            counts[key] = counts.get(key, 0) + 1
    names = {p.user_name.lower() for p in parsed}
    numbers = {p.number for p in parsed if p.number}
    identities = {(kind, v) for p in parsed for kind, v in (("mbox", p.mbox), ("mbox_sha1sum", p.sha)) if v}
    taken: set[tuple[str, str]] = set()
    for chunk in _chunks(sorted(names)):
        taken.update(
            ("user", n.lower())
            for n in session.scalars(
                select(ScimUser.user_name).where(
                    func.lower(ScimUser.user_name).in_(chunk), ScimUser.deleted_at.is_(None)
                )
            )
        )
    for chunk in _chunks(sorted(numbers)):
        query = select(Person.employee_no).where(Person.employee_no.in_(chunk))
        taken.update(("number", str(n)) for n in session.scalars(query))
    for kind in ("mbox", "mbox_sha1sum"):
        values = sorted(v for k, v in identities if k == kind)
        for chunk in _chunks(values):
            taken.update(
                (kind, v)
                for v in session.scalars(
                    select(PersonIdentity.value).where(
                        PersonIdentity.kind == kind,
                        PersonIdentity.namespace == "",
                        PersonIdentity.value.in_(chunk),
                    )
                )
            )
    return {
        p.index: p for p in parsed if all(counts[key] == 1 and key not in taken for key in _keys(p))
    }


def _keys(p: Plain) -> list[tuple[str, str]]:
    keys = [("user", p.user_name.lower())]
    if p.number:
        keys.append(("number", p.number))
    if p.mbox and p.sha:
        keys += [("mbox", p.mbox), ("mbox_sha1sum", p.sha)]
    return keys


def _chunks(values: list[str], size: int = 500) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def create_users(
    uow: UnitOfWork, client: ProvisioningClient | None, plain: list[Plain], departments: dict[str, int]
) -> list[ScimUser]:
    """Make the plain users: people (with their e-mail identities), hired, provisioned.

    The same rows and audit rows as ``services.create_user`` one by one; ``departments`` caches
    the department each SCIM ``department`` names (created when unknown, audited, as there).
    """
    session = uow.session
    now = uow.clock.now()
    people = []
    for p in plain:
        identities = []
        if p.mbox and p.sha:
            identities = [
                PersonIdentity(kind="mbox", namespace="", value=p.mbox),
                PersonIdentity(kind="mbox_sha1sum", namespace="", value=p.sha),
            ]
        people.append(Person(display_name=p.name, email=p.email, employee_no=p.number, identities=identities))
    session.add_all(people)
    session.flush()
    for person in people:
        for identity in person.identities:
            uow.publish(IdentityLinked(person.id, identity.kind, identity.namespace, identity.value))
    for p in plain:
        if p.department and p.department not in departments:
            departments[p.department] = services.department_for(uow, p.department).id
    with uow.because("hired through the identity provider (SCIM)"):
        for p, person in zip(plain, people, strict=True):
            person.active = True
            session.add(Employment(person_id=person.id, hired_at=now))
            if p.department:
                unit = departments[p.department]
                session.add(PersonDepartment(person_id=person.id, department_id=unit, valid_from=now))
    services.defer_obligations(uow)["hired"].update(person.id for person in people)
    rows = [
        ScimUser(
            scim_id=str(uuid.uuid4()),
            person_id=person.id,
            client_id=client.id if client else None,
            user_name=p.user_name,
            external_id=p.user.external_id,
            resource=services.stored(p.user),
            version=1,
            created_at=now,
            updated_at=now,
        )
        for p, person in zip(plain, people, strict=True)
    ]
    with uow.because("provisioned by the identity provider (SCIM)"):
        session.add_all(rows)
    for row in rows:
        logger.info("SCIM user %s created for person %s", row.scim_id, row.person_id)
    return rows
