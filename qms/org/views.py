"""``/api/v1`` routes of the organisation: departments, job functions, equipment and people."""

from __future__ import annotations

from typing import Any

from bridge.core.uow import UnitOfWork
from qms import views as qms_views
from qms.api import api
from qms.org import directory
from qms.org import services as org
from qms.org.schemas import EquipmentChange, HireRequest, PeopleQuery, RoleChange, TransferRequest, UnitCreate
from qms.roles import READERS
from qms.schemas import ReasonOnly

UNIT_PATHS = {"departments": "department", "job-functions": "job_function", "equipment": "equipment"}


def _unit_routes(path: str, kind: str) -> None:
    def list_units(uow: UnitOfWork) -> list[dict[str, Any]]:
        return [qms_views.as_dict(u) for u in org.list_units(uow.session, kind)]

    def create_unit(body: UnitCreate, uow: UnitOfWork) -> dict[str, Any]:
        unit = org.create_unit(uow, kind, body.code, body.name)
        result = qms_views.as_dict(unit)
        return result

    def get_unit(unit_id: int, uow: UnitOfWork) -> dict[str, Any]:
        return qms_views.as_dict(org.get_unit(uow.session, kind, unit_id))

    label = kind.replace("_", " ")
    for func, name in ((list_units, "list"), (create_unit, "create"), (get_unit, "get")):
        func.__name__ = f"{name}_{kind}"
        func.__doc__ = f"{name.title()} {label} records."
    api.route("GET", f"/{path}", summary=f"List {label} records", tags=["organisation"], roles=READERS)(
        list_units
    )
    api.route(
        "POST",
        f"/{path}",
        summary=f"Create a {label}",
        tags=["organisation"],
        body=UnitCreate,
        roles=("qa_author", "supervisor"),
        status=201,
    )(create_unit)
    api.route("GET", f"/{path}/{{unit_id}}", summary=f"One {label}", tags=["organisation"], roles=READERS)(
        get_unit
    )


for _path, _kind in UNIT_PATHS.items():
    _unit_routes(_path, _kind)


@api.route(
    "POST",
    "/people/hire",
    summary="Hire a person: memberships and matrix assignments",
    tags=["organisation"],
    body=HireRequest,
    roles=("qa_author", "supervisor"),
    status=201,
)
def hire_person(body: HireRequest, uow: UnitOfWork) -> dict[str, Any]:
    """New hire: department, job functions and equipment from now; assignments for what they need."""
    person, created = org.hire(
        uow,
        display_name=body.display_name,
        person_id=body.person_id,
        email=body.email,
        employee_no=body.employee_no,
        department_id=body.department_id,
        job_function_ids=body.job_function_ids,
        equipment_ids=body.equipment_ids,
    )
    return {
        "person": directory.person_summary(uow.session, person.id, now=uow.clock.now()),
        "assignments_created": created,
    }


def _person_event(uow: UnitOfWork, person_id: int, created: Any) -> dict[str, Any]:
    # Read back in the same transaction: the summary shows what the request changed.
    return {
        "person": directory.person_summary(uow.session, person_id, now=uow.clock.now()),
        "assignments_created": created or [],
    }


@api.route("GET", "/people", summary="List people", tags=["organisation"], roles=READERS, query=PeopleQuery)
def list_people(query: PeopleQuery, uow: UnitOfWork) -> list[dict[str, Any]]:
    """Filter by department, job function or equipment in force now, or by employment."""
    return directory.list_people(uow.session, **query.model_dump(), now=uow.clock.now())


@api.route(
    "GET",
    "/people/{person_id}",
    summary="A person with their current memberships",
    tags=["organisation"],
    roles=READERS,
)
def get_person(person_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """Employment, leave, department, job functions and equipment in force now."""
    summary = directory.person_summary(uow.session, person_id, now=uow.clock.now())
    history = org.membership_history(uow.session, person_id)
    summary["history"] = {k: [qms_views.as_dict(m) for m in v] for k, v in history.items()}
    return summary


@api.route(
    "POST",
    "/people/{person_id}/role-change",
    summary="Change a person's job functions",
    tags=["organisation"],
    body=RoleChange,
    roles=("qa_author", "supervisor"),
)
def role_change(person_id: int, body: RoleChange, uow: UnitOfWork) -> dict[str, Any]:
    """Old job functions end now, new ones start; obligations follow in the same transaction."""
    return _person_event(
        uow, person_id, org.change_roles(uow, person_id, body.job_function_ids, reason=body.reason)
    )


@api.route(
    "POST",
    "/people/{person_id}/transfer",
    summary="Transfer a person to another department",
    tags=["organisation"],
    body=TransferRequest,
    roles=("qa_author", "supervisor"),
)
def transfer_person(person_id: int, body: TransferRequest, uow: UnitOfWork) -> dict[str, Any]:
    """The department changes now; department requirements follow."""
    return _person_event(uow, person_id, org.transfer(uow, person_id, body.department_id, reason=body.reason))


@api.route(
    "POST",
    "/people/{person_id}/equipment",
    summary="Set the equipment a person operates",
    tags=["organisation"],
    body=EquipmentChange,
    roles=("qa_author", "supervisor"),
)
def set_equipment(person_id: int, body: EquipmentChange, uow: UnitOfWork) -> dict[str, Any]:
    """Equipment qualifications change now; equipment requirements follow."""
    return _person_event(
        uow, person_id, org.set_equipment(uow, person_id, body.equipment_ids, reason=body.reason)
    )


@api.route(
    "POST",
    "/people/{person_id}/leave",
    summary="Start a leave (exempt from obligations)",
    tags=["organisation"],
    body=ReasonOnly,
    roles=("qa_author", "supervisor"),
)
def start_leave(person_id: int, body: ReasonOnly, uow: UnitOfWork) -> dict[str, Any]:
    """The person's requirements show as exempt until they return."""
    return _person_event(uow, person_id, org.start_leave(uow, person_id, reason=body.reason) and [])


@api.route(
    "POST",
    "/people/{person_id}/return",
    summary="End a leave",
    tags=["organisation"],
    body=ReasonOnly,
    roles=("qa_author", "supervisor"),
)
def end_leave(person_id: int, body: ReasonOnly, uow: UnitOfWork) -> dict[str, Any]:
    """Open assignments that fell due during the leave get a new due date."""
    return _person_event(uow, person_id, org.end_leave(uow, person_id, reason=body.reason) and [])


@api.route(
    "POST",
    "/people/{person_id}/terminate",
    summary="Terminate a person's employment",
    tags=["organisation"],
    body=ReasonOnly,
    roles=("qa_author", "supervisor"),
)
def terminate_person(person_id: int, body: ReasonOnly, uow: UnitOfWork) -> dict[str, Any]:
    """Memberships end and open assignments are cancelled; the records stay."""
    return _person_event(uow, person_id, org.terminate(uow, person_id, reason=body.reason) and [])
