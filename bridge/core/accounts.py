"""User accounts, roles, API tokens, password policy and lockout (Part 11 §11.300)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from bridge.core import audit
from bridge.core.actor import Actor
from bridge.core.clock import column_now
from bridge.core.db import Base, UTCDateTime
from bridge.core.errors import AccountLocked, Conflict, NotFound, Unauthorized, ValidationFailed
from bridge.core.people import Person, create_person
from bridge.core.uow import UnitOfWork

logger = logging.getLogger(__name__)

ROLES = (
    "administrator",
    "qa_author",
    "qa_approver",
    "trainer",
    "supervisor",
    "learner",
    "auditor",
)
ROLE_DESCRIPTIONS = {
    "administrator": "manages accounts, LMS platforms, LRS credentials and settings",
    "qa_author": "drafts documents, change controls, CAPAs, deviations and the matrix",
    "qa_approver": "reviews and approves quality records with an e-signature",
    "trainer": "runs sessions, signs attendance and on-the-job assessments",
    "supervisor": "follows the training status of their people",
    "learner": "completes and signs their own training",
    "auditor": "reads every record and report, changes nothing",
}
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,62}$")
_COMMON_PASSWORDS = frozenset(
    {"password1234", "123456789012", "qwertyuiop12", "letmein12345", "welcome12345",
     "administrator", "passw0rd1234", "changeme1234"}
)
_hasher = PasswordHasher()


class UserAccount(Base):
    """A login: the password, the roles and the lockout state of one person."""

    __tablename__ = "user_account"
    __audited__ = True
    __audit_exclude__ = ("password_hash", "signing_password_hash")

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), nullable=False, unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # Learners who arrive by LTI launch set a signing password on first use (§11.200).
    signing_password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    person: Mapped[Person] = relationship(lazy="joined")
    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def roles(self) -> frozenset[str]:
        """The account's role names."""
        return frozenset(r.role for r in self.role_rows)

    def actor(self) -> Actor:
        """The actor this account acts as."""
        return Actor(
            kind="user",
            username=self.username,
            display_name=self.person.display_name,
            user_id=self.id,
            person_id=self.person_id,
            roles=self.roles,
        )


class UserRole(Base):
    """One role granted to an account."""

    __tablename__ = "user_role"
    __audited__ = True

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)

    user: Mapped[UserAccount] = relationship(back_populates="role_rows")


class ApiToken(Base):
    """A revocable bearer token for the REST API. Only a hash of the secret is kept."""

    __tablename__ = "api_token"
    __audited__ = True
    __audit_exclude__ = ("token_hash",)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    label: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False, default=column_now)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[UserAccount] = relationship(lazy="joined")

    __table_args__ = (Index("ix_api_token_user", "user_id"),)


# -- password policy -----------------------------------------------------------------

def check_password_policy(password: str, *, username: str, min_length: int) -> None:
    """Refuse a weak password with a message naming the rule it breaks."""
    if len(password) < min_length:
        raise ValidationFailed(
            f"the password must have at least {min_length} characters", field="password",
            code="weak_password",
        )
    classes = sum(
        bool(re.search(pattern, password))
        for pattern in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]")
    )
    if classes < 3:
        raise ValidationFailed(
            "the password must mix at least three of: lower case, upper case, digits, symbols",
            field="password", code="weak_password",
        )
    if username and username.lower() in password.lower():
        raise ValidationFailed("the password must not contain the username", field="password",
                               code="weak_password")
    if password.lower() in _COMMON_PASSWORDS:
        raise ValidationFailed("the password is too common", field="password",
                               code="weak_password")


def hash_password(password: str) -> str:
    """Argon2id hash of ``password``."""
    return _hasher.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (constant-time, argon2)."""
    if not stored_hash:
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# -- accounts --------------------------------------------------------------------------

def get_user(session: Session, username: str) -> UserAccount:
    """Return the account ``username`` or raise :class:`NotFound`."""
    user = session.scalar(select(UserAccount).where(UserAccount.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r}", field="username")
    return user


def create_user(
    uow: UnitOfWork,
    username: str,
    *,
    roles: list[str],
    password: str | None,
    display_name: str | None = None,
    email: str | None = None,
    person: Person | None = None,
    min_password_length: int = 12,
) -> UserAccount:
    """Create an account (and its person unless one is given).

    Args:
        uow: Unit of work.
        username: Login name: lower case letters, digits and ``._@-``.
        roles: One or more of :data:`ROLES`.
        password: Initial password, checked against the policy; ``None`` for accounts that
            only sign in through LTI.
        display_name: Printed name; defaults to the username.
        email: E-mail address, also the person's ``mbox`` identity.
        person: Existing person to attach the account to.
        min_password_length: Policy minimum length.
    """
    uow.actor.require("administrator", action="creating a user")
    username = (username or "").strip().lower()
    if not USERNAME_RE.match(username):
        raise ValidationFailed(
            "a username has 2 to 63 characters: lower case letters, digits and . _ @ -",
            field="username",
        )
    if not roles:
        raise ValidationFailed("a user needs at least one role", field="roles")
    for role in roles:
        if role not in ROLES:
            raise ValidationFailed(
                f"unknown role {role!r}; the roles are {', '.join(ROLES)}", field="roles",
                code="unknown_role",
            )
    session = uow.session
    if session.scalar(select(UserAccount.id).where(UserAccount.username == username)):
        raise Conflict(f"the username {username!r} is already taken", field="username",
                       code="duplicate_username")
    if password is not None:
        check_password_policy(password, username=username, min_length=min_password_length)
    if person is None:
        person = create_person(session, display_name or username, email=email)
    user = UserAccount(
        username=username,
        person=person,
        password_hash=hash_password(password) if password is not None else None,
        password_changed_at=uow.clock.now() if password is not None else None,
    )
    user.role_rows = [UserRole(role=role) for role in sorted(set(roles))]
    session.add(user)
    session.flush()
    logger.info("created user %s with roles %s", username, ",".join(roles))
    return user


def set_roles(uow: UnitOfWork, user: UserAccount, roles: list[str], reason: str) -> None:
    """Replace the roles of ``user`` (audited with ``reason``)."""
    uow.actor.require("administrator", action="changing roles")
    for role in roles:
        if role not in ROLES:
            raise ValidationFailed(f"unknown role {role!r}", field="roles", code="unknown_role")
    with uow.because(reason):
        wanted = set(roles)
        user.role_rows = [r for r in user.role_rows if r.role in wanted]
        for role in sorted(wanted - user.roles):
            user.role_rows.append(UserRole(role=role))


def set_password(uow: UnitOfWork, user: UserAccount, password: str, *, min_length: int,
                 signing: bool = False) -> None:
    """Set the login (or signing) password of ``user`` after checking the policy."""
    check_password_policy(password, username=user.username, min_length=min_length)
    with uow.because("signing password set" if signing else "password changed"):
        if signing:
            user.signing_password_hash = hash_password(password)
        else:
            user.password_hash = hash_password(password)
            user.password_changed_at = uow.clock.now()


def unlock(uow: UnitOfWork, user: UserAccount, reason: str) -> None:
    """Lift a lockout (administrators only, with a reason)."""
    uow.actor.require("administrator", action="unlocking an account")
    if not reason:
        raise ValidationFailed("unlocking an account needs a reason", field="reason")
    with uow.because(reason):
        user.locked_at = None
        user.failed_attempts = 0


def _failure_writer(user_id: int, threshold: int, context: str):
    def write(uow: UnitOfWork) -> None:
        user = uow.session.get(UserAccount, user_id)
        if user is None:
            return
        with uow.because(f"failed {context}"):
            user.failed_attempts += 1
            if user.failed_attempts >= threshold and user.locked_at is None:
                user.locked_at = uow.clock.now()
                audit.record(uow, "account.locked", "user_account", user.id,
                             new={"failed_attempts": user.failed_attempts},
                             reason=f"{user.failed_attempts} failed attempts")
                logger.warning("account %s locked after %d failures", user.username,
                               user.failed_attempts)
    return write


def check_credentials(
    uow: UnitOfWork,
    user: UserAccount,
    password: str,
    *,
    threshold: int,
    context: str = "login",
    signing: bool = False,
) -> None:
    """Verify ``password`` for ``user``, counting failures toward lockout.

    A failure raises :class:`Unauthorized` whose refusal writes (the failure count, the
    lock) commit even though the request itself is rolled back.

    Raises:
        AccountLocked: The account is locked or inactive.
        Unauthorized: The password is wrong.
    """
    if user.locked_at is not None:
        raise AccountLocked(
            f"the account {user.username} is locked after repeated failed attempts; "
            "an administrator must unlock it", field="username",
        )
    if not user.active:
        raise AccountLocked(f"the account {user.username} is deactivated", field="username",
                            code="account_inactive")
    stored = user.signing_password_hash if signing else user.password_hash
    if signing and stored is None:
        stored = user.password_hash
    if not password_matches(stored, password):
        remaining = max(threshold - user.failed_attempts - 1, 0)
        raise Unauthorized(
            f"wrong password for {user.username}"
            + (f"; {remaining} attempt(s) left before lockout" if remaining else
               "; the account is now locked"),
            field="password", code="wrong_password",
            after_rollback=_failure_writer(user.id, threshold, context),
        )
    if user.failed_attempts:
        with uow.because(f"successful {context}"):
            user.failed_attempts = 0
    if not signing and _hasher.check_needs_rehash(stored or ""):
        user.password_hash = hash_password(password)


# -- API tokens --------------------------------------------------------------------------

TOKEN_PREFIX = "gxp_"  # noqa: S105 - a prefix, not a secret


def _token_digest(token: str) -> str:
    # Tokens carry 256 random bits: a fast hash suffices and keeps every request cheap.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class IssuedToken:
    """A freshly issued token: the secret is shown once and never stored."""

    id: int
    token: str


def issue_token(uow: UnitOfWork, user: UserAccount, label: str = "") -> IssuedToken:
    """Create an API token for ``user``; the plain token is returned once."""
    if uow.actor.user_id != user.id:
        uow.actor.require("administrator", action="issuing a token for another user")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=_token_digest(token), label=label)
    uow.session.add(row)
    uow.session.flush()
    return IssuedToken(row.id, token)


def revoke_token(uow: UnitOfWork, token_id: int, reason: str = "revoked") -> ApiToken:
    """Revoke token ``token_id`` at once."""
    row = uow.session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no API token {token_id}", field="token_id")
    if uow.actor.user_id != row.user_id:
        uow.actor.require("administrator", action="revoking another user's token")
    if row.revoked_at is None:
        with uow.because(reason):
            row.revoked_at = uow.clock.now()
    return row


def authenticate_token(session: Session, token: str) -> UserAccount:
    """Return the active account behind a bearer token, or raise :class:`Unauthorized`."""
    if not token.startswith(TOKEN_PREFIX):
        raise Unauthorized("malformed API token")
    digest = _token_digest(token)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise Unauthorized("unknown API token")
    if row.revoked_at is not None:
        raise Unauthorized("this API token was revoked", code="token_revoked")
    user = row.user
    if not user.active or user.locked_at is not None:
        raise AccountLocked(f"the account {user.username} is locked or inactive")
    return user
