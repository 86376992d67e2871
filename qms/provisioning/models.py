"""Models of SCIM provisioning: the provisioning clients (one bearer token each, stored hashed),
and the SCIM view of people and groups (the resource documents the identity provider sent,
linked to the person and to the job function or department they stand for).

People are never deleted here: a SCIM DELETE terminates the employment and marks the SCIM user
``deleted_at`` (the resource then answers 404), the person and their records stay.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bridge.core.clock import column_now
from bridge.core.db import Base, JSONType, UTCDateTime

GROUP_KINDS = ("job_function", "department")


class ProvisioningClient(Base):
    """An identity provider or HRIS allowed to provision through ``/scim/v2``.

    Only the SHA-256 of its bearer token is stored; revoking sets ``revoked_at``.
    """

    __tablename__ = "qms_provisioning_client"
    __audited__ = True
    __audit_exclude__ = ("token_hash",)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    token_hint: Mapped[str] = mapped_column(String(12), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoke_reason: Mapped[str | None] = mapped_column(Text)


class ScimUser(Base):
    """A person as the identity provider sees them: the SCIM resource it sent, and the person."""

    __tablename__ = "qms_scim_user"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scim_id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("qms_provisioning_client.id"))
    user_name: Mapped[str] = mapped_column(String(300), nullable=False)
    external_id: Mapped[str | None] = mapped_column(String(300))
    resource: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_qms_scim_user_name", "user_name", "deleted_at"),
        Index("ix_qms_scim_user_person", "person_id"),
    )


class ScimGroup(Base):
    """A group of the identity provider, standing for a job function (or a department).

    ``member_ids`` are the SCIM ids of its member users (the memberships they stand for are the
    dated ``qms_person_job_function`` / ``qms_person_department`` rows).
    """

    __tablename__ = "qms_scim_group"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scim_id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("qms_provisioning_client.id"))
    display_name: Mapped[str] = mapped_column(String(300), nullable=False)
    external_id: Mapped[str | None] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="job_function")
    job_function_id: Mapped[int | None] = mapped_column(ForeignKey("qms_job_function.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("qms_department.id"))
    member_ids: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    resource: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_qms_scim_group_name", "display_name", "deleted_at"),)
