"""Request models of the organisation's routes."""

from __future__ import annotations

from pydantic import Field

from qms.schemas import Code, Reason, Strict


class UnitCreate(Strict):
    """A department, job function or piece of equipment."""

    code: str = Code
    name: str = Field(min_length=1, max_length=200)


class HireRequest(Strict):
    """A new hire: a new person (name) or an existing one (person_id)."""

    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    person_id: int | None = None
    email: str | None = Field(default=None, max_length=320)
    employee_no: str | None = Field(default=None, max_length=64)
    department_id: int
    job_function_ids: list[int] = Field(min_length=1)
    equipment_ids: list[int] = Field(default_factory=list)


class RoleChange(Strict):
    """New set of job functions."""

    job_function_ids: list[int] = Field(min_length=1)
    reason: str = Reason


class TransferRequest(Strict):
    """Move to another department."""

    department_id: int
    reason: str = Reason


class EquipmentChange(Strict):
    """New set of equipment operated."""

    equipment_ids: list[int]
    reason: str = Reason


class PeopleQuery(Strict):
    """Filters of the people list (memberships in force now)."""

    department_id: int | None = None
    job_function_id: int | None = None
    equipment_id: int | None = None
    employed: bool | None = None
    limit: int = Field(default=500, ge=1, le=5000)
    offset: int = Field(default=0, ge=0)
