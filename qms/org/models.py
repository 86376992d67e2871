"""Models of the organisation: departments, job functions, equipment, employment, the dated
memberships of people in them (from inclusive, to exclusive) and leaves of absence.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridge.core.clock import column_now
from bridge.core.db import Base, UTCDateTime


class Department(Base):
    """A department of the plant (QC lab, Packaging...)."""

    __tablename__ = "qms_department"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)


class JobFunction(Base):
    """A job function (role in the plant) that carries training requirements."""

    __tablename__ = "qms_job_function"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)


class Equipment(Base):
    """A piece of equipment whose operators need specific training."""

    __tablename__ = "qms_equipment"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)


class Employment(Base):
    """A person's employment in the plant: hired, possibly terminated (dated)."""

    __tablename__ = "qms_employment"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    hired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    terminated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    termination_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_qms_employment_person", "person_id"),)


class _Membership:
    """Columns shared by the dated memberships (from inclusive, to exclusive)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    valid_to: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PersonJobFunction(_Membership, Base):
    """A person holds a job function from ``valid_from`` until ``valid_to``."""

    __tablename__ = "qms_person_job_function"
    __audited__ = True

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    job_function_id: Mapped[int] = mapped_column(ForeignKey("qms_job_function.id"), nullable=False)

    __table_args__ = (
        Index("ix_qms_person_job_function_person", "person_id", "valid_to"),
        Index("ix_qms_person_job_function_jf", "job_function_id", "valid_to"),
    )


class PersonDepartment(_Membership, Base):
    """A person belongs to a department from ``valid_from`` until ``valid_to``."""

    __tablename__ = "qms_person_department"
    __audited__ = True

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    department_id: Mapped[int] = mapped_column(ForeignKey("qms_department.id"), nullable=False)

    __table_args__ = (
        Index("ix_qms_person_department_person", "person_id", "valid_to"),
        Index("ix_qms_person_department_dept", "department_id", "valid_to"),
    )


class PersonEquipment(_Membership, Base):
    """A person operates a piece of equipment from ``valid_from`` until ``valid_to``."""

    __tablename__ = "qms_person_equipment"
    __audited__ = True

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    equipment_id: Mapped[int] = mapped_column(ForeignKey("qms_equipment.id"), nullable=False)

    __table_args__ = (
        Index("ix_qms_person_equipment_person", "person_id", "valid_to"),
        Index("ix_qms_person_equipment_eq", "equipment_id", "valid_to"),
    )


class Leave(Base):
    """A leave of absence: the person is exempt from obligations while it lasts."""

    __tablename__ = "qms_leave"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_qms_leave_person", "person_id"),)
