"""Storage of the LTI 1.3 tool: platforms, deployments, tool keys, server-side login state,
launches, resource links, course memberships and registration tokens.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bridge.core.clock import column_now
from bridge.core.db import Base, JSONType, UTCDateTime

logger = logging.getLogger(__name__)


class LtiPlatform(Base):
    """One registration of this tool in an LMS: an issuer and the client id it gave us."""

    __tablename__ = "lti_platform"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    issuer: Mapped[str] = mapped_column(String(500), nullable=False)
    client_id: Mapped[str] = mapped_column(String(255), nullable=False)
    auth_login_url: Mapped[str] = mapped_column(String(1000), nullable=False)
    auth_token_url: Mapped[str] = mapped_column(String(1000), nullable=False)
    auth_audience: Mapped[str | None] = mapped_column(String(1000))
    keyset_url: Mapped[str | None] = mapped_column(String(1000))
    public_key_pem: Mapped[str | None] = mapped_column(Text)
    # Home page of the xAPI account the same LMS uses in its statements (Moodle: its URL).
    xapi_homepage: Mapped[str | None] = mapped_column(String(500))
    # LTI role name (short form, e.g. "Instructor") -> GxP Bridge role; None = defaults.
    role_map: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Further origins (scheme://host[:port]) the platform may name as its Deep Linking return
    # URL, beside those of its issuer, login and token URLs (e.g. Canvas: the school's host).
    return_origins: Mapped[list[str] | None] = mapped_column(JSONType)
    registered_by: Mapped[str] = mapped_column(String(32), nullable=False, default="manual")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    deployments: Mapped[list[LtiDeployment]] = relationship(
        back_populates="platform", cascade="all, delete-orphan", lazy="selectin",
        order_by="LtiDeployment.id",
    )

    __table_args__ = (UniqueConstraint("issuer", "client_id", name="uq_lti_platform_issuer_client"),)

    @property
    def deployment_ids(self) -> list[str]:
        """The active deployment ids of this registration."""
        return [d.deployment_id for d in self.deployments if d.active]


class LtiDeployment(Base):
    """A deployment id of a platform registration (one per course, category or site)."""

    __tablename__ = "lti_deployment"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platform.id", ondelete="CASCADE"),
                                             nullable=False)
    deployment_id: Mapped[str] = mapped_column(String(255), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    platform: Mapped[LtiPlatform] = relationship(back_populates="deployments")

    __table_args__ = (
        UniqueConstraint("platform_id", "deployment_id", name="uq_lti_deployment_platform_deployment"),
    )


class LtiToolKey(Base):
    """An RSA key pair of this tool; the active one signs, recent ones stay in the JWKS."""

    __tablename__ = "lti_tool_key"
    __audited__ = True
    __audit_exclude__ = ("private_key_pem",)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    private_key_pem: Mapped[str] = mapped_column(Text, nullable=False)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class LtiRegistrationToken(Base):
    """A one-time token an administrator creates to let one LMS register dynamically."""

    __tablename__ = "lti_registration_token"
    __audited__ = True
    __audit_exclude__ = ("token_hash",)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    label: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    platform_id: Mapped[int | None] = mapped_column(ForeignKey("lti_platform.id"))


class LtiStateEntry(Base):
    """Server-side OIDC state, nonces and cached platform key sets (pylti1p3's storage).

    Kept in the database rather than in cookies so a launch works inside an LMS iframe
    when the browser blocks third-party cookies. Rows expire; a sweep removes them.
    """

    __tablename__ = "lti_state_entry"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_lti_state_entry_expires_at", "expires_at"),)


class LtiLaunch(Base):
    """An accepted launch: the learner's session inside the LMS frame, kept server-side.

    Pages of the launch are addressed by an unguessable handle (only its hash is stored);
    no cookie is needed. Signing still needs the person's signing password.
    """

    __tablename__ = "lti_launch"
    __audited__ = True
    __audit_exclude__ = ("handle_hash", "claims")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handle_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platform.id"), nullable=False)
    deployment_id: Mapped[str] = mapped_column(String(255), nullable=False)
    message_type: Mapped[str] = mapped_column(String(64), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), nullable=False)
    lti_roles: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    context_id: Mapped[str | None] = mapped_column(String(255))
    resource_link_id: Mapped[int | None] = mapped_column(ForeignKey("lti_resource_link.id"))
    training_item_id: Mapped[int | None] = mapped_column(Integer)
    claims: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)

    platform: Mapped[LtiPlatform] = relationship(lazy="joined")

    __table_args__ = (
        Index("ix_lti_launch_person", "person_id"),
        # The console's "last launch" of each deployment: one index probe per deployment.
        Index("ix_lti_launch_deployment_created", "platform_id", "deployment_id", "created_at"),
    )


class LtiContext(Base):
    """A course (LTI context) of a platform, with its roster service."""

    __tablename__ = "lti_context"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platform.id"), nullable=False)
    context_id: Mapped[str] = mapped_column(String(255), nullable=False)
    title: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    label: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    deployment_id: Mapped[str] = mapped_column(String(255), nullable=False)
    memberships_url: Mapped[str | None] = mapped_column(String(1000))
    roster_synced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    platform: Mapped[LtiPlatform] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("platform_id", "context_id", name="uq_lti_context_platform_context"),
    )


class LtiContextMember(Base):
    """A person's membership of a course, from a launch or a roster sync."""

    __tablename__ = "lti_context_member"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    context_pk: Mapped[int] = mapped_column(ForeignKey("lti_context.id", ondelete="CASCADE"),
                                            nullable=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    lti_roles: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="Active")
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="launch")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    __table_args__ = (
        UniqueConstraint("context_pk", "person_id", name="uq_lti_context_member_context_person"),
        Index("ix_lti_context_member_person", "person_id"),
    )


class LtiResourceLink(Base):
    """A placement of this tool in a course, and the training item and line item it carries."""

    __tablename__ = "lti_resource_link"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platform.id"), nullable=False)
    deployment_id: Mapped[str] = mapped_column(String(255), nullable=False)
    context_pk: Mapped[int | None] = mapped_column(ForeignKey("lti_context.id"))
    resource_link_id: Mapped[str] = mapped_column(String(255), nullable=False)
    title: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    training_item_id: Mapped[int | None] = mapped_column(Integer)
    lineitem_url: Mapped[str | None] = mapped_column(String(1000))
    lineitems_url: Mapped[str | None] = mapped_column(String(1000))
    ags_scopes: Mapped[list[str]] = mapped_column(JSONType, nullable=False, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    __table_args__ = (
        UniqueConstraint("platform_id", "deployment_id", "resource_link_id",
                         name="uq_lti_resource_link_platform_link"),
        Index("ix_lti_resource_link_item", "training_item_id"),
    )


class LtiIdentityMatch(Base):
    """An LMS user whose e-mail names a person already recorded here: a link waiting for proof.

    The e-mail is a hint, never proof. Until the person signs in once from the launch with
    their own password, or QA confirms the match, the launch works with a person of its own
    (``launch_person_id``); linking moves the LMS identity to ``candidate_person_id``.
    """

    __tablename__ = "lti_identity_match"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("lti_platform.id"), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    launch_person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    candidate_person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    # pending -> linked (by "password" or "qa") | rejected
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    method: Mapped[str | None] = mapped_column(String(16))
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    platform: Mapped[LtiPlatform] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("platform_id", "subject", "candidate_person_id",
                         name="uq_lti_identity_match_subject_candidate"),
        Index("ix_lti_identity_match_status", "status"),
    )
