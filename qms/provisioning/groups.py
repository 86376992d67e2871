"""SCIM groups: each stands for a job function (matched by code, then name; created when
unknown). Membership is the dated ``qms_person_job_function`` row: joining a group starts the job
function, leaving it ends it, and the members' obligations are re-evaluated in the same
transaction (reason ``role_change``). Deleting a group ends its memberships; the job function
stays (requirements and the past name it).
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from scim2_models import Context, PatchOp
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bridge.core.uow import UnitOfWork
from qms.org import services as org
from qms.org.models import Employment, JobFunction, PersonJobFunction
from qms.provisioning import resources, services
from qms.provisioning.models import ProvisioningClient, ScimGroup, ScimUser
from qms.provisioning.resources import GROUP, ScimRefusal
from qms.training import compliance

logger = logging.getLogger(__name__)

STORED_CONTEXT = Context.RESOURCE_CREATION_REQUEST


def live_group(session: Session, scim_id: str, *, lock: bool = False) -> ScimGroup:
    """The group ``scim_id`` that is not deleted, or 404."""
    query = select(ScimGroup).where(ScimGroup.scim_id == scim_id, ScimGroup.deleted_at.is_(None))
    row = session.scalar(query.with_for_update(of=ScimGroup) if lock else query)
    if row is None:
        raise ScimRefusal(f"no group {scim_id}", status=404, scim_type=None)
    return row


def job_function_for(uow: UnitOfWork, name: str) -> JobFunction:
    """The job function a group names (by code, then by name), created when unknown."""
    session = uow.session
    found = session.scalar(select(JobFunction).where(func.lower(JobFunction.code) == name.lower()))
    found = found or session.scalar(select(JobFunction).where(func.lower(JobFunction.name) == name.lower()))
    if found is not None:
        return found
    code = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:24] or "JF"
    if not code[0].isalnum():
        code = "J" + code
    while session.scalar(select(JobFunction.id).where(JobFunction.code == code)):
        code = f"{code[:24]}-{uuid.uuid4().hex[:6]}"
    with uow.because(f"job function {name!r} provisioned by the identity provider"):
        return org.create_unit(uow, "job_function", code, name[:200])


def _members(session: Session, group: Any) -> list[ScimUser]:
    wanted = [str(m.value) for m in (group.members or []) if m.value]
    if not wanted:
        return []
    rows = {
        r.scim_id: r
        for r in session.scalars(
            select(ScimUser).where(ScimUser.scim_id.in_(wanted), ScimUser.deleted_at.is_(None))
        )
    }
    missing = [m for m in wanted if m not in rows]
    if missing:
        raise ScimRefusal(f"no user {missing[0]} to be a member of the group", scim_type="invalidValue")
    return [rows[m] for m in dict.fromkeys(wanted)]


def _stored(group: Any) -> dict[str, Any]:
    """The group as sent (members keep the ``display`` the identity provider gave them)."""
    data = group.model_dump(scim_ctx=STORED_CONTEXT)
    for key in ("id", "meta"):
        data.pop(key, None)
    data["members"] = [
        {k: v for k, v in member.items() if k in ("value", "display")} for member in data.get("members") or []
    ]
    return data


def _employed_and_holding(
    session: Session, people: list[int], job_function_id: int, now: Any
) -> tuple[set[int], set[int]]:
    """Among ``people``: those employed, and those holding the job function now (set-based: a
    group of a thousand members is two queries, not two thousand).
    """
    employed: set[int] = set()
    holding: set[int] = set()
    unique = sorted(set(people))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        employed.update(
            session.scalars(
                select(Employment.person_id).where(
                    Employment.person_id.in_(chunk), Employment.terminated_at.is_(None)
                )
            )
        )
        holding.update(
            session.scalars(
                select(PersonJobFunction.person_id).where(
                    PersonJobFunction.person_id.in_(chunk),
                    PersonJobFunction.job_function_id == job_function_id,
                    PersonJobFunction.valid_from <= now,
                    or_(PersonJobFunction.valid_to.is_(None), PersonJobFunction.valid_to > now),
                )
            )
        )
    return employed, holding


def _set_members(uow: UnitOfWork, row: ScimGroup, members: list[ScimUser], reason: str) -> None:
    """Start and end the job function of joining and leaving members; re-evaluate their obligations."""
    session = uow.session
    now = uow.clock.now()
    before = set(row.member_ids or [])
    after = [m.scim_id for m in members]
    person_of = {m.scim_id: m.person_id for m in members}
    gone = before - set(after)
    if gone:
        person_of.update(
            session.execute(
                select(ScimUser.scim_id, ScimUser.person_id).where(ScimUser.scim_id.in_(gone))
            ).all()
        )
    touched: list[int] = []
    joining = [person_of[s] for s in after if s not in before]
    employed, holding = _employed_and_holding(session, joining, row.job_function_id, now)
    with uow.because(reason):
        for scim_id in after:
            if scim_id in before:
                continue
            person_id = person_of[scim_id]
            if person_id not in employed:
                continue  # a terminated person holds no job function
            if person_id not in holding:
                session.add(
                    PersonJobFunction(
                        person_id=person_id, job_function_id=row.job_function_id, valid_from=now
                    )
                )
                holding.add(person_id)
                touched.append(person_id)
        for scim_id in gone:
            person_id = person_of[scim_id]
            for membership in org.compliance_current(session, PersonJobFunction, person_id, now):
                if membership.job_function_id == row.job_function_id:
                    membership.valid_to = now
                    touched.append(person_id)
        row.member_ids = after
    deferred = uow.session.info.get(services.DEFERRED)
    if deferred is not None:
        deferred["moved"].update(touched)
        return
    if touched:
        compliance.sync_people(
            uow,
            sorted(set(touched)),
            reason="role_change",
            source_type="scim_group",
            source_id=row.id,
            now=now,
        )


def create_group(uow: UnitOfWork, client: ProvisioningClient | None, payload: dict[str, Any]) -> ScimGroup:
    """POST /Groups: a group for a job function, with its members."""
    session = uow.session
    group = resources.parse(GROUP, payload, Context.RESOURCE_CREATION_REQUEST)
    name = str(group.display_name or "").strip()
    if not name:
        raise ScimRefusal("a group needs a displayName", scim_type="invalidValue")
    if session.scalar(
        select(ScimGroup.id).where(
            func.lower(ScimGroup.display_name) == name.lower(), ScimGroup.deleted_at.is_(None)
        )
    ):
        raise ScimRefusal(f"a group is already named {name!r}", status=409, scim_type="uniqueness")
    members = _members(session, group)
    job_function = job_function_for(uow, name)
    now = uow.clock.now()
    row = ScimGroup(
        scim_id=str(uuid.uuid4()),
        client_id=client.id if client else None,
        display_name=name,
        external_id=group.external_id,
        kind="job_function",
        job_function_id=job_function.id,
        member_ids=[],
        resource=_stored(group),
        version=1,
        created_at=now,
        updated_at=now,
    )
    with uow.because("group provisioned by the identity provider (SCIM)"):
        session.add(row)
    _set_members(uow, row, members, f"joined group {name} (SCIM)")
    return row


def _apply(uow: UnitOfWork, row: ScimGroup, group: Any) -> ScimGroup:
    name = str(group.display_name or "").strip()
    if not name:
        raise ScimRefusal("a group needs a displayName", scim_type="invalidValue")
    clash = uow.session.scalar(
        select(ScimGroup.id).where(
            func.lower(ScimGroup.display_name) == name.lower(),
            ScimGroup.deleted_at.is_(None),
            ScimGroup.id != row.id,
        )
    )
    if clash:
        raise ScimRefusal(f"a group is already named {name!r}", status=409, scim_type="uniqueness")
    _set_members(uow, row, _members(uow.session, group), f"group {name} membership changed (SCIM)")
    with uow.because("updated by the identity provider (SCIM)"):
        row.display_name = name
        row.external_id = group.external_id
        row.resource = _stored(group)
        row.version += 1
        row.updated_at = uow.clock.now()
    return row


def replace_group(
    uow: UnitOfWork, scim_id: str, payload: dict[str, Any], *, if_match: str | None = None
) -> ScimGroup:
    """PUT /Groups/{id}: name and the whole member list."""
    from_row = live_group(uow.session, scim_id, lock=True)
    _check_version(from_row, if_match)
    return _apply(uow, from_row, resources.parse(GROUP, payload, Context.RESOURCE_REPLACEMENT_REQUEST))


def patch_group(
    uow: UnitOfWork, scim_id: str, payload: dict[str, Any], *, if_match: str | None = None
) -> ScimGroup:
    """PATCH /Groups/{id}: add/remove members (what identity providers send), rename."""
    row = live_group(uow.session, scim_id, lock=True)
    _check_version(row, if_match)
    patch = resources.parse(PatchOp[GROUP], payload, Context.RESOURCE_PATCH_REQUEST)
    group = to_resource(uow.session, row, "")
    patch.patch(group)
    return _apply(uow, row, group)


def delete_group(uow: UnitOfWork, scim_id: str, *, if_match: str | None = None) -> ScimGroup:
    """DELETE /Groups/{id}: its members leave the job function; the job function stays."""
    row = live_group(uow.session, scim_id, lock=True)
    _check_version(row, if_match)
    _set_members(uow, row, [], f"group {row.display_name} deleted (SCIM)")
    with uow.because(f"group {row.display_name} deleted by the identity provider (SCIM)"):
        row.deleted_at = uow.clock.now()
    return row


def _check_version(row: ScimGroup, if_match: str | None) -> None:
    if if_match and if_match.strip() != "*" and f'W/"{row.version}"' not in if_match:
        raise ScimRefusal("the resource changed since it was read (If-Match)", status=412, scim_type=None)


def to_resource(session: Session, row: ScimGroup, base: str) -> Any:
    """The served Group resource (id, meta, members)."""
    group = GROUP.model_validate(row.resource, scim_ctx=STORED_CONTEXT)
    group.id = row.scim_id
    group.meta = resources.meta(
        "Group", f"{base}/Groups/{row.scim_id}", row.created_at, row.updated_at, row.version
    )
    sent = {m.get("value"): m.get("display") for m in row.resource.get("members") or []}
    group.members = None
    if row.member_ids:
        names = dict(
            session.execute(
                select(ScimUser.scim_id, ScimUser.user_name).where(ScimUser.scim_id.in_(row.member_ids))
            ).all()
        )
        group.members = [
            {"value": m, "display": sent.get(m) or names.get(m), "type": "User", "$ref": f"{base}/Users/{m}"}
            for m in row.member_ids
        ]
    return group


def search_groups(
    session: Session, base: str, filter_text: str | None, start: int, count: int, params: Any = None
) -> dict[str, Any]:
    """GET /Groups: filtered and paged."""
    query = select(ScimGroup).where(ScimGroup.deleted_at.is_(None)).order_by(ScimGroup.id)
    simple = resources.simple_equality(filter_text)
    if simple is not None and simple[0] in ("displayname", "externalid"):
        column = ScimGroup.display_name if simple[0] == "displayname" else ScimGroup.external_id
        query = query.where(
            or_(func.lower(column) == simple[1].lower())
            if simple[0] == "displayname"
            else column == simple[1]
        )
        matched = [to_resource(session, r, base) for r in session.scalars(query)]
    else:
        compiled = resources.compile_filter(GROUP, filter_text)
        matched = [to_resource(session, r, base) for r in session.scalars(query)]
        if compiled is not None:
            matched = [g for g in matched if compiled.match(g)]
    page = matched[start - 1 : start - 1 + count]
    return resources.list_response(GROUP, page, len(matched), start, params)
