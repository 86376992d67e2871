"""Domain operations of the LTI tool: registrations, launches to people, deep linking,
grades (AGS) and rosters (NRPS). No Flask here: views and commands call these with a
unit of work and commit once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
import typing as t
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core import audit, outbox, people
from bridge.core.accounts import ROLES, UserAccount, UserRole, check_credentials, create_user
from bridge.core.actor import Actor
from bridge.core.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from bridge.core.uow import UnitOfWork
from lti import keys
from lti.models import (
    LtiContext,
    LtiContextMember,
    LtiDeployment,
    LtiIdentityMatch,
    LtiLaunch,
    LtiPlatform,
    LtiRegistrationToken,
    LtiResourceLink,
)
from qms.documents import services as qms_documents
from qms.training import services as qms_training
from qms.training import standing as qms_standing

if t.TYPE_CHECKING:
    from lti.tool import CachingServiceConnector, ToolMessageLaunch

logger = logging.getLogger(__name__)

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DL_SETTINGS_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
ITEM_CUSTOM_PARAM = "gxp_training_item"
AGS_TOPIC = "lti.ags_score"
NRPS_TOPIC = "lti.nrps_sync"
LAUNCH_LIFETIME = dt.timedelta(hours=2)
ROSTER_SYNC_INTERVAL = dt.timedelta(hours=1)

# Context roles (short names) -> GxP Bridge roles. Privileged roles are never granted by an LMS.
DEFAULT_ROLE_MAP: dict[str, str] = {
    "Learner": "learner",
    "Instructor": "trainer",  # and its sub-roles (TeachingAssistant, Grader, …)
    "Mentor": "supervisor",
    "ContentDeveloper": "qa_author",
}
NEVER_FROM_LMS = frozenset({"administrator", "qa_approver", "auditor"})
# The LIS vocabulary of context (membership) roles, LTI 1.3 appendix A.2.3: only these count.
LIS_MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"
LIS_CONTEXT_ROLES = frozenset({"Administrator", "ContentDeveloper", "Instructor", "Learner", "Mentor",
                               "Manager", "Member", "Officer"})
INSTRUCTOR_ROLES = frozenset({"Instructor", "TeachingAssistant", "ContentDeveloper", "Administrator"})
_URL_RE = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)


def launch_actor(platform: LtiPlatform | None) -> Actor:
    """The actor of launch processing (provisioning people, recording launches)."""
    label = (platform.name or platform.issuer) if platform else "unknown platform"
    return Actor(kind="system", username=f"lti:{label}"[:200], display_name=f"LTI launch from {label}"[:200])


# -- platform registrations ------------------------------------------------------------------

def _check_url(value: str | None, field: str, *, required: bool = True) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise ValidationFailed(f"{field} is required", field=field)
        return None
    if not _URL_RE.match(value) or len(value) > 1000:
        raise ValidationFailed(f"{field} must be an http(s) URL, got {value!r}", field=field)
    return value


def _check_public_key(pem: str) -> str:
    try:
        serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(f"the public key is not a PEM public key: {exc}", field="public_key") from exc
    return pem.strip() + "\n"


def add_platform(
    uow: UnitOfWork,
    *,
    issuer: str,
    client_id: str,
    deployment_ids: t.Sequence[str],
    auth_login_url: str,
    auth_token_url: str,
    keyset_url: str | None = None,
    public_key_pem: str | None = None,
    auth_audience: str | None = None,
    name: str = "",
    xapi_homepage: str | None = None,
    registered_by: str = "manual",
    role_map: dict[str, str] | None = None,
) -> LtiPlatform:
    """Register an LMS (issuer + client id) with its deployments.

    A registration that was removed earlier is re-activated with the new values.

    Raises:
        ValidationFailed: A missing or malformed value; neither or both key sources.
        Conflict: The issuer + client id pair is already registered and active.
    """
    uow.actor.require("administrator", action="registering an LMS platform")
    issuer = _check_url(issuer, "issuer") or ""
    client_id = (client_id or "").strip()
    if not client_id or len(client_id) > 255:
        raise ValidationFailed("a client id of 1 to 255 characters is required", field="client_id")
    deployments = [d.strip() for d in deployment_ids if d and d.strip()]
    # Some platforms (Canvas) create the deployment only when the tool is installed in an
    # account or course: a dynamic registration may come without one, added later.
    if not deployments and registered_by != "dynamic":
        raise ValidationFailed("at least one deployment id is required", field="deployment_id")
    login_url = _check_url(auth_login_url, "auth_login_url")
    token_url = _check_url(auth_token_url, "auth_token_url")
    keyset = _check_url(keyset_url, "keyset_url", required=False)
    if bool(keyset) == bool(public_key_pem and public_key_pem.strip()):
        raise ValidationFailed("give exactly one of the platform's keyset URL or its public key file",
                               field="keyset_url")
    pem = _check_public_key(public_key_pem) if public_key_pem and public_key_pem.strip() else None
    homepage = _check_url(xapi_homepage, "xapi_homepage", required=False)
    roles = check_role_map(role_map or {})
    session = uow.session
    platform = session.scalar(select(LtiPlatform).where(LtiPlatform.issuer == issuer,
                                                       LtiPlatform.client_id == client_id))
    if platform is not None and platform.active:
        raise Conflict(f"the platform {issuer} with client id {client_id} is already registered "
                       f"(id {platform.id})", field="client_id", code="duplicate_platform")
    with uow.because(f"LMS platform registered ({registered_by})"):
        if platform is None:
            platform = LtiPlatform(issuer=issuer, client_id=client_id)
            session.add(platform)
        platform.name = (name or urlsplit(issuer).hostname or issuer)[:200]
        platform.auth_login_url = login_url  # type: ignore[assignment]
        platform.auth_token_url = token_url  # type: ignore[assignment]
        platform.auth_audience = (auth_audience or "").strip() or None
        platform.keyset_url = keyset
        platform.public_key_pem = pem
        platform.xapi_homepage = homepage
        platform.role_map = roles or None
        platform.registered_by = registered_by
        platform.active = True
        session.flush()
        for deployment_id in deployments:
            _ensure_deployment(session, platform, deployment_id)
    return platform


def check_role_map(role_map: dict[str, str]) -> dict[str, str]:
    """Validate a platform's LTI role -> GxP Bridge role overrides (short LTI role names)."""
    checked = {}
    for lti_role, role in role_map.items():
        name = short_role(lti_role)[0]
        if not name:
            raise ValidationFailed(f"empty LTI role in {lti_role!r}", field="role_map")
        if name not in LIS_CONTEXT_ROLES:
            raise ValidationFailed(f"{name!r} is not an LIS context role; one of "
                                   f"{', '.join(sorted(LIS_CONTEXT_ROLES))}", field="role_map")
        if role not in ROLES:
            raise ValidationFailed(f"unknown role {role!r}; one of {', '.join(ROLES)}", field="role_map")
        if role in NEVER_FROM_LMS:
            raise ValidationFailed(f"the role {role} is never granted by an LMS: an administrator grants it",
                                   field="role_map")
        checked[name] = role
    return checked


def _ensure_deployment(session: Session, platform: LtiPlatform, deployment_id: str) -> LtiDeployment:
    if len(deployment_id) > 255:
        raise ValidationFailed("a deployment id has at most 255 characters", field="deployment_id")
    for row in platform.deployments:
        if row.deployment_id == deployment_id:
            row.active = True
            return row
    row = LtiDeployment(deployment_id=deployment_id)
    platform.deployments.append(row)
    session.flush()
    return row


def add_deployment(uow: UnitOfWork, platform_id: int, deployment_id: str) -> LtiDeployment:
    """Add a deployment id to a registration."""
    uow.actor.require("administrator", action="adding an LTI deployment")
    platform = get_platform(uow.session, platform_id)
    deployment_id = (deployment_id or "").strip()
    if not deployment_id:
        raise ValidationFailed("a deployment id is required", field="deployment_id")
    with uow.because("LTI deployment added"):
        return _ensure_deployment(uow.session, platform, deployment_id)


def get_platform(session: Session, platform_id: int) -> LtiPlatform:
    """Platform ``platform_id`` or :class:`NotFound`."""
    platform = session.get(LtiPlatform, platform_id)
    if platform is None:
        raise NotFound(f"no LMS platform {platform_id}", field="platform_id")
    return platform


def list_platforms(session: Session, *, include_removed: bool = False) -> list[LtiPlatform]:
    """Registered platforms, oldest first."""
    query = select(LtiPlatform).order_by(LtiPlatform.id)
    if not include_removed:
        query = query.where(LtiPlatform.active.is_(True))
    return list(session.scalars(query))


def remove_platform(uow: UnitOfWork, platform_id: int, reason: str) -> LtiPlatform:
    """Deactivate a registration: its launches are refused from now on; history is kept."""
    uow.actor.require("administrator", action="removing an LMS platform")
    if not (reason or "").strip():
        raise ValidationFailed("removing a platform needs a reason", field="reason")
    platform = get_platform(uow.session, platform_id)
    if not platform.active:
        raise Conflict(f"the platform {platform_id} is already removed", field="platform_id")
    with uow.because(reason):
        platform.active = False
    return platform


# -- registration tokens (Dynamic Registration gate) -------------------------------------------

def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_registration_token(uow: UnitOfWork, *, label: str = "",
                              hours: int = 24) -> tuple[LtiRegistrationToken, str]:
    """Create a one-time Dynamic Registration token; the secret is returned once."""
    uow.actor.require("administrator", action="creating an LTI registration token")
    if not 1 <= hours <= 24 * 30:
        raise ValidationFailed("a registration token lives 1 hour to 30 days", field="hours")
    secret = "gxpreg_" + secrets.token_urlsafe(24)
    row = LtiRegistrationToken(token_hash=_digest(secret), label=(label or "")[:200],
                               created_by=uow.actor.username,
                               expires_at=uow.clock.now() + dt.timedelta(hours=hours))
    with uow.because("registration token created for LTI Dynamic Registration"):
        uow.session.add(row)
        uow.session.flush()
    return row, secret


def check_registration_token(uow: UnitOfWork, secret: str) -> LtiRegistrationToken:
    """The unused, unexpired registration token ``secret``.

    Raises:
        Forbidden: Unknown, used or expired token.
    """
    row = uow.session.scalar(select(LtiRegistrationToken).where(
        LtiRegistrationToken.token_hash == _digest(secret or "")))
    if row is None:
        raise Forbidden("this registration link is not valid: ask an administrator of GxP Bridge for a "
                        "new one (gxpbridge lti registration-token create)", field="gxp_token",
                        code="registration_token_invalid")
    if row.used_at is not None:
        raise Forbidden("this registration link was already used; each link registers one LMS once",
                        field="gxp_token", code="registration_token_used")
    if row.expires_at <= uow.clock.now():
        raise Forbidden("this registration link has expired", field="gxp_token",
                        code="registration_token_expired")
    return row


def redeem_registration_token(uow: UnitOfWork, token: LtiRegistrationToken, platform: LtiPlatform) -> None:
    """Mark the token used by ``platform`` (in the registration's transaction)."""
    with uow.because(f"used to register {platform.issuer}"):
        token.used_at = uow.clock.now()
        token.platform_id = platform.id


# -- people -------------------------------------------------------------------------------------

def short_role(uri: str) -> tuple[str, bool]:
    """The short name of a role as an administrator writes it in a role map, and whether it
    names a context role (see :func:`context_role` for the roles a launch carries).
    """
    uri = uri.strip()
    if "#" in uri:
        return uri.rsplit("#", 1)[1], "/membership" in uri
    if "/" in uri:
        return uri.rsplit("/", 1)[1], "/membership" in uri
    return uri, True  # deprecated simple names are context roles


def context_role(role: str) -> str | None:
    """The LIS context role a role of a launch names, or ``None``.

    Only the LIS vocabulary counts: ``http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor``
    (a principal role) and ``…/membership/Instructor#TeachingAssistant`` (a sub-role, which
    counts as its principal role, Instructor). LTI 1.3 lets platforms send the deprecated
    simple name of a *context* role (``Instructor``): it is read as that LIS principal role.
    Any other URI — another vocabulary that merely contains ``/membership``, institution and
    system roles, unknown names — grants nothing.
    """
    role = role.strip()
    if role in LIS_CONTEXT_ROLES:
        return role
    if role.startswith(LIS_MEMBERSHIP + "#"):
        name = role[len(LIS_MEMBERSHIP) + 1:]
        return name if name in LIS_CONTEXT_ROLES else None
    if role.startswith(LIS_MEMBERSHIP + "/") and "#" in role:
        principal = role[len(LIS_MEMBERSHIP) + 1:].split("#", 1)[0]
        return principal if principal in LIS_CONTEXT_ROLES else None
    return None


def context_roles(lti_roles: t.Iterable[str]) -> set[str]:
    """The LIS context roles (principal short names) in an LTI roles claim."""
    found = (context_role(r) for r in lti_roles if isinstance(r, str))
    return {name for name in found if name}


def map_roles(platform: LtiPlatform, lti_roles: t.Iterable[str]) -> list[str]:
    """GxP Bridge roles a launch's LTI roles grant (at least ``learner``)."""
    mapping = dict(DEFAULT_ROLE_MAP)
    mapping.update({k: v for k, v in (platform.role_map or {}).items()
                    if isinstance(v, str) and v in ROLES and v not in NEVER_FROM_LMS})
    granted = {mapping[name] for name in context_roles(lti_roles) if name in mapping}
    granted = {r for r in granted if r in ROLES and r not in NEVER_FROM_LMS}
    return sorted(granted or {"learner"})


def is_instructor(lti_roles: t.Iterable[str]) -> bool:
    """Whether the roles include a course staff role."""
    return bool(context_roles(lti_roles) & INSTRUCTOR_ROLES)


def xapi_homepage(platform: LtiPlatform) -> str:
    """Home page of the xAPI accounts the platform's statements use (Moodle: its URL = issuer)."""
    return (platform.xapi_homepage or platform.issuer).rstrip("/")


def _username_for(session: Session, platform: LtiPlatform, identity: Identity) -> str:
    sub = identity.sub
    # A name the learner recognises when signing: the LMS user name, else the e-mail's local part.
    readable = identity.preferred_username or (identity.email or "").split("@")[0] or sub
    local = re.sub(r"[^a-z0-9._-]+", "-", readable.lower()).strip("-._")[:40]
    candidates = [f"{local}@lti{platform.id}"] if local else []
    candidates.append(f"lti{platform.id}-{hashlib.sha256(sub.encode()).hexdigest()[:20]}")
    for candidate in candidates:
        if not session.scalar(select(UserAccount.id).where(UserAccount.username == candidate)):
            return candidate
    raise Conflict(f"no free user name for LTI user {sub}", field="sub")


@dataclass
class Identity:
    """Who an LMS says a user is."""

    sub: str
    name: str
    email: str | None
    lti_roles: list[str]
    preferred_username: str | None = None


def identity_from_claims(claims: t.Mapping[str, t.Any]) -> Identity:
    """The user identity carried by an id_token (or an NRPS member)."""
    def text(key: str) -> str:
        value = claims.get(key)
        return value.strip() if isinstance(value, str) else ""

    sub = str(claims.get("sub") or claims.get("user_id") or "")
    name = text("name") or f"{text('given_name')} {text('family_name')}".strip()
    ext = claims.get(CLAIM + "ext") or {}
    preferred = claims.get("preferred_username") or (
        ext.get("user_username") if isinstance(ext, dict) else None)
    roles = claims.get(CLAIM + "roles", claims.get("roles", []))
    roles = roles if isinstance(roles, list) else []
    email = claims.get("email") or None
    return Identity(sub=sub, name=name or f"LMS user {sub}", email=email if isinstance(email, str) else None,
                    lti_roles=[r for r in roles if isinstance(r, str)],
                    preferred_username=preferred if isinstance(preferred, str) else None)


def _placeholder_name(sub: str) -> str:
    return f"LMS user {sub}"


def provision_person(uow: UnitOfWork, platform: LtiPlatform,
                     identity: Identity) -> tuple[people.Person, UserAccount]:
    """Find or create the person (and account) behind an LMS user; link their identities.

    Lookup order: the LTI identity (issuer + sub), then the xAPI account the same LMS uses
    in its statements (home page + user id). An e-mail is a hint, never proof: when it names
    a person already recorded here, the LMS user gets a person of their own and the match
    waits (:class:`LtiIdentityMatch`) until the person signs in once with their own password
    from the launch (:func:`link_by_password`) or QA confirms it (:func:`confirm_match`).
    The LMS never replaces a person's printed name (the one their signatures show): it may
    only fill the placeholder a launch without a name left. A new person gets an account
    without a login password: they sign with a signing password they set on first use.
    """
    session = uow.session
    if not identity.sub:
        raise ValidationFailed("the LMS user has no id ('sub')", field="sub")
    homepage = xapi_homepage(platform)
    evidence: dict[str, t.Any] | None = None
    person = people.find_person_by_identity(session, "lti", platform.issuer, identity.sub)
    if person is None:
        person = people.find_person_by_identity(session, "xapi_account", homepage, identity.sub)
        if person is not None:
            evidence = {"method": "xapi_account", "home_page": homepage, "name": identity.sub}
    candidate = None
    if person is None and identity.email:
        holder = people.find_person_by_identity(session, "mbox", "", identity.email)
        if holder is not None and not any(i.kind == "lti" and i.namespace == platform.issuer
                                          for i in holder.identities):
            candidate = holder
    with uow.because(f"LTI user {identity.sub} of {platform.issuer}"):
        if person is None:
            person = people.create_person(session, identity.name[:200])
            person.email = identity.email
            if identity.email and people.find_person_by_identity(session, "mbox", "", identity.email) is None:
                people.link_identity(session, person, "mbox", "", identity.email)
        elif (person.display_name == _placeholder_name(identity.sub)
              and identity.name != _placeholder_name(identity.sub)):
            person.display_name = identity.name[:200]  # fills a missing name, never replaces one
        if people.find_person_by_identity(session, "lti", platform.issuer, identity.sub) is None:
            people.link_identity(session, person, "lti", platform.issuer, identity.sub)
            if evidence is not None:
                audit.record(uow, "lti.identity_linked", "person", person.id,
                             new={"issuer": platform.issuer, "sub": identity.sub, "evidence": evidence})
        holder = people.find_person_by_identity(session, "xapi_account", homepage, identity.sub)
        if holder is None:
            people.link_identity(session, person, "xapi_account", homepage, identity.sub)
        elif holder.id != person.id:
            logger.warning("xAPI account %s|%s belongs to person %s, not %s", homepage, identity.sub,
                           holder.id, person.id)
            audit.record(uow, "lti.identity_conflict", "person", person.id,
                         new={"xapi_account": {"homePage": homepage, "name": identity.sub},
                              "held_by_person": holder.id})
        if candidate is not None:
            _flag_match(uow, platform, identity, person, candidate)
        wanted = map_roles(platform, identity.lti_roles)
        user = session.scalar(select(UserAccount).where(UserAccount.person_id == person.id))
        if user is None:
            username = _username_for(session, platform, identity)
            user = create_user(uow, username, roles=wanted, password=None, person=person)
        elif user.password_hash is None:
            # Accounts that exist only through the LMS follow its roles (added, never removed);
            # a console account's roles are managed by administrators only.
            for role in sorted(set(wanted) - user.roles):
                user.role_rows.append(UserRole(role=role))
        session.flush()
    return person, user


# -- e-mail matches: linking an LMS identity to a recorded person needs proof ---------------------

def _flag_match(uow: UnitOfWork, platform: LtiPlatform, identity: Identity, person: people.Person,
                candidate: people.Person) -> None:
    session = uow.session
    if candidate.id == person.id or session.scalar(select(LtiIdentityMatch.id).where(
            LtiIdentityMatch.platform_id == platform.id, LtiIdentityMatch.subject == identity.sub,
            LtiIdentityMatch.candidate_person_id == candidate.id)):
        return
    email = (identity.email or "").strip().lower()
    match = LtiIdentityMatch(platform_id=platform.id, subject=identity.sub, launch_person_id=person.id,
                             candidate_person_id=candidate.id, email=email[:320], status="pending")
    session.add(match)
    session.flush()
    audit.record(uow, "lti.identity_match_pending", "person", candidate.id,
                 new={"match_id": match.id, "issuer": platform.issuer, "sub": identity.sub, "email": email,
                      "candidate_person_id": candidate.id, "launch_person_id": person.id},
                 reason="the LMS e-mail names a recorded person: linking needs their password or QA")
    logger.info("LTI user %s of %s matches person %s by e-mail: waiting for proof", identity.sub,
                platform.issuer, candidate.id)


def pending_match(session: Session, launch: LtiLaunch) -> LtiIdentityMatch | None:
    """The e-mail match of a launch's LMS user still waiting for proof, if any."""
    return session.scalar(select(LtiIdentityMatch).where(
        LtiIdentityMatch.platform_id == launch.platform_id, LtiIdentityMatch.subject == launch.subject,
        LtiIdentityMatch.status == "pending").order_by(LtiIdentityMatch.id).limit(1))


def list_matches(session: Session, *, include_resolved: bool = False) -> list[LtiIdentityMatch]:
    """E-mail matches, oldest first (pending ones only by default)."""
    query = select(LtiIdentityMatch).order_by(LtiIdentityMatch.id)
    if not include_resolved:
        query = query.where(LtiIdentityMatch.status == "pending")
    return list(session.scalars(query))


def _pending(session: Session, match_id: int) -> LtiIdentityMatch:
    match = session.get(LtiIdentityMatch, match_id)
    if match is None:
        raise NotFound(f"no identity match {match_id}", field="match_id")
    if match.status != "pending":
        raise Conflict(f"the identity match {match_id} is already {match.status}", field="match_id")
    return match


def link_by_password(uow: UnitOfWork, launch_id: int, username: str, password: str, *,
                     threshold: int) -> people.Person:
    """The person proves the match from the launch by signing in once with their own password.

    Raises:
        Conflict: Nothing waits to be linked for this launch.
        Unauthorized: Unknown account, not the matched person's, or a wrong password (failures
            on the matched person's account count toward its lockout).
    """
    session = uow.session
    launch = session.get(LtiLaunch, launch_id)
    match = pending_match(session, launch) if launch is not None else None
    if launch is None or match is None:
        raise Conflict("this LMS account has no match waiting to be linked", code="nothing_to_link")
    wanted = (username or "").strip().lower()
    user = session.scalar(select(UserAccount).where(UserAccount.username == wanted))
    # One answer for an unknown account, another person's account and a wrong password: the
    # form tells nobody which account the e-mail matched, and is no password oracle for others.
    refusal = ("wrong user name or password (it must be the GxP Bridge account of the person your "
               "LMS e-mail matched; otherwise Quality Assurance can confirm the match)")
    if user is None or user.password_hash is None or user.person_id != match.candidate_person_id:
        raise Unauthorized(refusal, field="password", code="wrong_password")
    try:
        check_credentials(uow, user, password, threshold=threshold, context="LMS account link")
    except Unauthorized as exc:
        if exc.code != "wrong_password":
            raise
        raise Unauthorized(refusal, field="password", code="wrong_password",
                           after_rollback=exc.after_rollback) from exc
    return _link(uow, match, evidence={"method": "password", "username": user.username,
                                       "email": match.email, "match_id": match.id},
                 by=user.username, reason="the person signed in with their own password from the LMS")


def confirm_match(uow: UnitOfWork, match_id: int, reason: str) -> people.Person:
    """QA confirms that an LMS user is the recorded person their e-mail names."""
    uow.actor.require("qa_approver", action="confirming that an LMS account is a recorded person")
    if not (reason or "").strip():
        raise ValidationFailed("confirming a match needs a reason", field="reason")
    match = _pending(uow.session, match_id)
    return _link(uow, match, evidence={"method": "qa", "confirmed_by": uow.actor.username,
                                       "email": match.email, "match_id": match.id},
                 by=uow.actor.username, reason=reason)


def reject_match(uow: UnitOfWork, match_id: int, reason: str) -> LtiIdentityMatch:
    """QA rules an e-mail match out: the LMS user keeps a person of their own."""
    uow.actor.require("qa_approver", action="rejecting an LMS account match")
    if not (reason or "").strip():
        raise ValidationFailed("rejecting a match needs a reason", field="reason")
    match = _pending(uow.session, match_id)
    with uow.because(reason):
        match.status, match.method = "rejected", "qa"
        match.resolved_by, match.resolved_at = uow.actor.username, uow.clock.now()
    audit.record(uow, "lti.identity_match_rejected", "person", match.candidate_person_id,
                 new={"match_id": match.id, "sub": match.subject, "email": match.email}, reason=reason)
    return match


def _link(uow: UnitOfWork, match: LtiIdentityMatch, *, evidence: dict[str, t.Any], by: str,
          reason: str) -> people.Person:
    """Move the LMS user's identities, courses and launches to the matched person.

    The person of their own the launches used is deactivated (its records, if any, stay with
    it); the matched person's printed name and console roles are left as they are.
    """
    session = uow.session
    own = people.get_person(session, match.launch_person_id)
    target = people.get_person(session, match.candidate_person_id)
    moved = []
    with uow.because(reason):
        for identity in [i for i in own.identities if i.kind in ("lti", "xapi_account")]:
            key = (identity.kind, identity.namespace, identity.value)
            own.identities.remove(identity)
            session.flush()
            people.link_identity(session, target, *key)
            moved.append({"kind": key[0], "namespace": key[1], "value": key[2]})
        for member in session.scalars(select(LtiContextMember).where(
                LtiContextMember.person_id == own.id)).all():
            if session.scalar(select(LtiContextMember.id).where(
                    LtiContextMember.context_pk == member.context_pk,
                    LtiContextMember.person_id == target.id)):
                session.delete(member)
            else:
                member.person_id = target.id
        own_user = session.scalar(select(UserAccount).where(UserAccount.person_id == own.id))
        target_user = session.scalar(select(UserAccount).where(UserAccount.person_id == target.id))
        if target_user is None and own_user is not None:
            own_user.person_id = target.id  # the LMS-only account now names the matched person
            target_user = own_user
        elif own_user is not None:
            own_user.active = False
        if target_user is not None:
            for launch in session.scalars(select(LtiLaunch).where(LtiLaunch.person_id == own.id)).all():
                launch.person_id, launch.user_id = target.id, target_user.id
        own.active = False
        match.status, match.method = "linked", evidence["method"]
        match.resolved_by, match.resolved_at = by[:200], uow.clock.now()
        session.flush()
    audit.record(uow, "lti.identity_linked", "person", target.id,
                 new={"issuer": match.platform.issuer, "sub": match.subject, "from_person_id": own.id,
                      "identities": moved, "evidence": evidence},
                 reason=reason)
    logger.info("LTI user %s of %s linked to person %s (%s)", match.subject, match.platform.issuer,
                target.id, evidence["method"])
    return target


def has_own_signing_password(user: UserAccount) -> bool:
    """Whether the account still needs its first signing password (LMS-only accounts)."""
    return user.signing_password_hash is not None or user.password_hash is not None


def reset_signing_password(uow: UnitOfWork, username: str, reason: str) -> UserAccount:
    """Clear a person's signing password: they choose a new one at their next launch.

    The first component of their signatures stays the LMS identity; the reset is audited.
    """
    uow.actor.require("administrator", action="resetting a signing password")
    if not (reason or "").strip():
        raise ValidationFailed("resetting a signing password needs a reason", field="reason")
    wanted = (username or "").strip().lower()
    user = uow.session.scalar(select(UserAccount).where(UserAccount.username == wanted))
    if user is None:
        raise NotFound(f"no user named {username!r}", field="username")
    if user.signing_password_hash is None:
        raise Conflict(f"{user.username} has no signing password to reset", field="username")
    with uow.because(reason):
        user.signing_password_hash = None
    audit.record(uow, "user.signing_password_reset", "user_account", user.id, reason=reason)
    return user


# -- launches -------------------------------------------------------------------------------------

@dataclass
class RecordedLaunch:
    """An accepted launch and the handle its pages are addressed by (shown once)."""

    launch: LtiLaunch
    handle: str


def _context(session: Session, platform: LtiPlatform, claims: t.Mapping[str, t.Any],
             deployment_id: str) -> LtiContext | None:
    context_claim = claims.get(CLAIM + "context")
    if not isinstance(context_claim, dict) or not context_claim.get("id"):
        return None
    context = session.scalar(select(LtiContext).where(LtiContext.platform_id == platform.id,
                                                      LtiContext.context_id == str(context_claim["id"])))
    if context is None:
        context = LtiContext(platform_id=platform.id, context_id=str(context_claim["id"])[:255],
                             deployment_id=deployment_id)
        session.add(context)
    context.title = str(context_claim.get("title") or "")[:500]
    context.label = str(context_claim.get("label") or "")[:255]
    nrps = claims.get(NRPS_CLAIM)
    if isinstance(nrps, dict) and nrps.get("context_memberships_url"):
        context.memberships_url = str(nrps["context_memberships_url"])[:1000]
    session.flush()
    return context


def _membership(uow: UnitOfWork, context: LtiContext, person_id: int, sub: str, roles: list[str],
                source: str, status: str = "Active") -> LtiContextMember:
    session = uow.session
    member = session.scalar(select(LtiContextMember).where(LtiContextMember.context_pk == context.id,
                                                           LtiContextMember.person_id == person_id))
    if member is None:
        member = LtiContextMember(context_pk=context.id, person_id=person_id, subject=sub)
        session.add(member)
    if member.lti_roles != roles:
        member.lti_roles = roles
    if member.status != status:
        member.status = status
    member.source = source
    member.updated_at = uow.clock.now()
    session.flush()
    return member


def resolve_training_item(session: Session, ref: t.Any) -> int | None:
    """The id of the training item a custom parameter names (its id or its code)."""
    if ref is None or str(ref).strip() == "":
        return None

    ref = str(ref).strip()
    if ref.isdigit():
        try:
            return qms_documents.get_training_item(session, int(ref)).id
        except NotFound:
            return None
    for item in qms_documents.list_training_items(session):
        if getattr(item, "code", None) == ref:
            return item.id
    return None


def _resource_link(session: Session, platform: LtiPlatform, claims: t.Mapping[str, t.Any],
                   deployment_id: str, context: LtiContext | None) -> LtiResourceLink | None:
    link_claim = claims.get(CLAIM + "resource_link")
    if not isinstance(link_claim, dict) or not link_claim.get("id"):
        return None
    link_id = str(link_claim["id"])[:255]
    link = session.scalar(select(LtiResourceLink).where(
        LtiResourceLink.platform_id == platform.id, LtiResourceLink.deployment_id == deployment_id,
        LtiResourceLink.resource_link_id == link_id))
    if link is None:
        link = LtiResourceLink(platform_id=platform.id, deployment_id=deployment_id, resource_link_id=link_id)
        session.add(link)
    link.context_pk = context.id if context else None
    link.title = str(link_claim.get("title") or "")[:500]
    custom = claims.get(CLAIM + "custom")
    if isinstance(custom, dict) and custom.get(ITEM_CUSTOM_PARAM) is not None:
        item_id = resolve_training_item(session, custom.get(ITEM_CUSTOM_PARAM))
        if item_id is not None and item_id != link.training_item_id:
            link.training_item_id = item_id
    ags = claims.get(AGS_CLAIM)
    if isinstance(ags, dict):
        link.lineitem_url = str(ags["lineitem"])[:1000] if ags.get("lineitem") else link.lineitem_url
        link.lineitems_url = str(ags["lineitems"])[:1000] if ags.get("lineitems") else link.lineitems_url
        declared = ags.get("scope")
        scopes = [s for s in declared if isinstance(s, str)] if isinstance(declared, list) else []
        if scopes != link.ags_scopes:
            link.ags_scopes = scopes
    session.flush()
    return link


def record_launch(uow: UnitOfWork, launch: ToolMessageLaunch) -> RecordedLaunch:
    """Turn a verified launch into a person, their course membership and a launch session."""
    session = uow.session
    platform = launch.platform
    assert platform is not None
    claims = launch.claims
    deployment_id = str(claims[CLAIM + "deployment_id"])
    identity = identity_from_claims(claims)
    person, user = provision_person(uow, platform, identity)
    with uow.because("LTI launch"):
        context = _context(session, platform, claims, deployment_id)
        if context is not None:
            _membership(uow, context, person.id, identity.sub, identity.lti_roles, "launch")
            _request_roster_sync(uow, context)
        link = _resource_link(session, platform, claims, deployment_id, context)
        handle = secrets.token_urlsafe(32)
        row = LtiLaunch(
            handle_hash=_digest(handle), platform_id=platform.id, deployment_id=deployment_id,
            message_type=str(claims.get(CLAIM + "message_type")), subject=identity.sub,
            person_id=person.id, user_id=user.id, lti_roles=identity.lti_roles,
            context_id=context.context_id if context else None,
            resource_link_id=link.id if link else None,
            training_item_id=link.training_item_id if link else None,
            claims=claims, expires_at=uow.clock.now() + LAUNCH_LIFETIME,
        )
        session.add(row)
        session.flush()
    logger.info("LTI launch %s accepted: %s from %s as person %s", row.id, row.message_type,
                platform.issuer, person.id)
    return RecordedLaunch(row, handle)


def get_launch(uow: UnitOfWork, handle: str) -> LtiLaunch:
    """The unexpired launch addressed by ``handle``.

    Raises:
        Unauthorized: Unknown or expired: the learner must launch again from the LMS.
    """
    row = uow.session.scalar(select(LtiLaunch).where(LtiLaunch.handle_hash == _digest(handle or "")))
    if row is None or row.expires_at <= uow.clock.now():
        raise Unauthorized("this training session has expired or is unknown: open the activity again "
                           "from your LMS course", code="launch_expired")
    if not row.platform.active:
        raise Unauthorized("the LMS of this session is no longer registered", code="launch_expired")
    return row


def launch_user_actor(session: Session, launch: LtiLaunch) -> Actor:
    """The person acting in a launch's pages: their account, with the roles the LMS gives
    them in this course only (an LMS session never carries console privileges).
    """
    user = session.get(UserAccount, launch.user_id)
    if user is None or not user.active:
        raise Unauthorized("the account of this launch is deactivated", code="account_inactive")
    roles = frozenset(map_roles(launch.platform, launch.lti_roles))
    return Actor(kind="user", username=user.username, display_name=user.person.display_name,
                 user_id=user.id, person_id=user.person_id, roles=roles)


def record_refusal(uow: UnitOfWork, refusal: t.Any, *, stage: str) -> None:
    """Audit a refused login, launch or registration (in its own transaction)."""
    audit.record(uow, f"lti.{stage}_refused", "lti_platform",
                 getattr(refusal, "platform_id", None) or "unknown",
                 new={"check": getattr(refusal, "check", getattr(refusal, "code", "refused")),
                      "message": getattr(refusal, "message", str(refusal)),
                      "issuer": getattr(refusal, "issuer", None),
                      "client_id": getattr(refusal, "client_id", None)},
                 reason=f"{stage} refused")


# -- deep linking ----------------------------------------------------------------------------------

def deep_link_settings(uow: UnitOfWork, launch: LtiLaunch) -> dict[str, t.Any]:
    """The deep linking settings of a deep-linking launch.

    Raises:
        Forbidden: The launch is not a deep-linking request by course staff.
    """
    if launch.message_type != "LtiDeepLinkingRequest":
        raise Forbidden("this launch is not a deep-linking request", code="not_deep_linking")
    if not is_instructor(launch.lti_roles):
        raise Forbidden("only course staff (instructor, teaching assistant, content developer) may "
                        "place training items in a course", code="role_required")
    settings = launch.claims.get(DL_SETTINGS_CLAIM)
    if not isinstance(settings, dict) or not settings.get("deep_link_return_url"):
        raise ValidationFailed("the deep-linking request has no return URL", field="deep_link_return_url")
    return_url = str(settings["deep_link_return_url"])
    platform = launch.platform
    if not _URL_RE.match(return_url):
        # The response is posted there from our origin: only http(s), never javascript: or data:.
        raise ValidationFailed("the deep-linking return URL must be http(s)", field="deep_link_return_url",
                               after_rollback=_deep_link_refusal(launch, return_url, "not http(s)"))
    if origin_of(return_url) not in platform_origins(platform):
        # A signed response placed in a course is a credential of sorts: it goes to the
        # platform that asked for it, never to a page elsewhere that the request names.
        raise Forbidden(f"the deep-linking return URL is not on an origin registered for "
                        f"{platform.name or platform.issuer}: an administrator of GxP Bridge can add "
                        f"the LMS's origin (gxpbridge lti platform return-origins {platform.id} …)",
                        field="deep_link_return_url", code="deep_link_return_url",
                        after_rollback=_deep_link_refusal(launch, return_url, "origin not registered"))
    return settings


def origin_of(url: str | None) -> tuple[str, str, int] | None:
    """The origin (scheme, host, port) of an http(s) URL, or ``None``."""
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def platform_origins(platform: LtiPlatform) -> set[tuple[str, str, int]]:
    """Where a platform may have its Deep Linking response posted: the origins of its issuer,
    login and token URLs, and those an administrator registered for it.
    """
    urls = [platform.issuer, platform.auth_login_url, platform.auth_token_url,
            *(platform.return_origins or [])]
    return {o for o in (origin_of(u) for u in urls) if o is not None}


def _deep_link_refusal(launch: LtiLaunch, return_url: str, why: str) -> t.Callable[[UnitOfWork], None]:
    launch_id, platform_id, issuer = launch.id, launch.platform_id, launch.platform.issuer

    def write(uow: UnitOfWork) -> None:
        audit.record(uow, "lti.deep_link_refused", "lti_launch", launch_id,
                     new={"return_url": return_url[:1000], "why": why, "platform_id": platform_id,
                          "issuer": issuer},
                     reason="deep-linking return URL refused")
    return write


def set_return_origins(uow: UnitOfWork, platform_id: int, origins: t.Sequence[str]) -> LtiPlatform:
    """Replace the extra origins a platform's Deep Linking return URL may be on."""
    uow.actor.require("administrator", action="changing an LMS platform's return origins")
    platform = get_platform(uow.session, platform_id)
    checked = []
    for value in origins:
        origin = origin_of(value)
        if origin is None or urlsplit(value.strip()).path not in ("", "/"):
            raise ValidationFailed(f"{value!r} is not an origin (http(s)://host[:port])", field="origin")
        scheme, host, port = origin
        default = 443 if scheme == "https" else 80
        checked.append(f"{scheme}://{host}" + ("" if port == default else f":{port}"))
    with uow.because("Deep Linking return origins set"):
        platform.return_origins = sorted(set(checked)) or None
    return platform


def deep_link_response(uow: UnitOfWork, launch: LtiLaunch, item_ids: t.Sequence[int], *,
                       base_url: str) -> tuple[str, str]:
    """Sign the deep-linking response placing ``item_ids``; returns (return URL, JWT).

    Each item becomes an LTI resource link with a line item, so the LMS creates a
    gradebook column that completions are reported to.
    """
    # The LTI protocol stack (pylti1p3) loads when it is used, not with the app.
    from pylti1p3.deep_link import DeepLink
    from pylti1p3.deep_link_resource import DeepLinkResource
    from pylti1p3.lineitem import LineItem

    from lti.tool import ToolRegistration

    settings = deep_link_settings(uow, launch)
    if not item_ids:
        raise ValidationFailed("choose at least one training item", field="items")
    accept_multiple = str(settings.get("accept_multiple", True)).lower() != "false"
    if len(item_ids) > 1 and not accept_multiple:
        raise ValidationFailed("this LMS accepts one item per placement", field="items")
    accept_types = settings.get("accept_types") or ["ltiResourceLink"]
    if "ltiResourceLink" not in accept_types:
        raise ValidationFailed("the LMS does not accept LTI resource links here", field="items")
    key = keys.active_key(uow.session)
    if key is None:
        raise Conflict("the tool has no signing key yet", code="no_tool_key")
    registration = ToolRegistration(launch.platform, key)
    resources = []
    placed = []
    for item_id in item_ids:
        item = qms_documents.get_training_item(uow.session, int(item_id))
        lineitem = (LineItem().set_label(f"{item.code} {item.title}"[:255].strip())
                    .set_score_maximum(100).set_resource_id(f"gxp-training-item-{item.id}")
                    .set_tag("gxp-training"))
        resource = (DeepLinkResource().set_url(base_url.rstrip("/") + "/lti/launch")
                    .set_title(f"{item.code} {item.title}".strip()[:255])
                    .set_custom_params({ITEM_CUSTOM_PARAM: str(item.id)}).set_lineitem(lineitem))
        resources.append(resource)
        placed.append({"id": item.id, "code": item.code, "title": item.title})
    deep_link = DeepLink(registration, launch.deployment_id, settings)  # type: ignore[arg-type]
    token = deep_link.get_response_jwt(resources)
    audit.record(uow, "lti.deep_link_response", "lti_launch", launch.id,
                 new={"items": placed, "return_url": settings["deep_link_return_url"]},
                 reason="training items placed in an LMS course")
    return settings["deep_link_return_url"], token


# -- grades (AGS) ----------------------------------------------------------------------------------

def enqueue_scores(uow: UnitOfWork, evt: t.Any) -> int:
    """Queue the AGS score of a completion for every line item of its training item the
    person can be graded in (courses where they are a member). Returns how many.
    """
    session = uow.session
    count = 0
    rows = session.execute(
        select(LtiResourceLink, LtiContextMember)
        .join(LtiContextMember, LtiContextMember.context_pk == LtiResourceLink.context_pk)
        .join(LtiPlatform, LtiPlatform.id == LtiResourceLink.platform_id)
        .where(LtiResourceLink.training_item_id == evt.training_item_id,
               LtiContextMember.person_id == evt.person_id,
               LtiPlatform.active.is_(True))
    ).all()
    for link, member in rows:
        if SCORE_SCOPE not in (link.ags_scopes or []) or not (link.lineitem_url or link.lineitems_url):
            continue
        scaled = evt.score_scaled
        outbox.enqueue(uow, AGS_TOPIC, {
            "platform_id": link.platform_id,
            "resource_link_pk": link.id,
            "lineitem_url": link.lineitem_url,
            "lineitems_url": link.lineitems_url,
            "scopes": list(link.ags_scopes),
            "user_id": member.subject,
            "score_given": round(100 * scaled, 2) if scaled is not None else 100,
            "score_maximum": 100,
            "timestamp": evt.completed_at.isoformat(),
            "completion_id": evt.completion_id,
            "training_item_id": evt.training_item_id,
        })
        count += 1
    if count:
        logger.info("queued %d AGS score(s) for completion %s", count, evt.completion_id)
    return count


def _connector(session: Session, platform: LtiPlatform) -> CachingServiceConnector:
    from lti.launch_policy import http_session
    from lti.tool import CachingServiceConnector, ToolRegistration  # the protocol stack, on use

    key = keys.active_key(session)
    if key is None:
        raise RuntimeError("the tool has no signing key")
    return CachingServiceConnector(ToolRegistration(platform, key), http_session())


def send_score(uow: UnitOfWork, payload: dict[str, t.Any]) -> None:
    """Outbox sender: post one score to the platform's line item (client-credentials token).

    Raises:
        PermanentFailure: The platform is gone or the link cannot take scores.
        Exception: Anything transient; the outbox relay retries with back-off.
    """
    from pylti1p3.assignments_grades import AssignmentsGradesService  # the protocol stack, on use
    from pylti1p3.exception import LtiException
    from pylti1p3.grade import Grade
    from pylti1p3.lineitem import LineItem

    session = uow.session
    platform = session.get(LtiPlatform, payload["platform_id"])
    if platform is None or not platform.active:
        raise outbox.PermanentFailure(f"platform {payload['platform_id']} is not registered any more")
    service = AssignmentsGradesService(_connector(session, platform), {  # type: ignore[typeddict-item]
        "scope": payload["scopes"], "lineitem": payload.get("lineitem_url"),
        "lineitems": payload.get("lineitems_url")})
    grade = (Grade().set_score_given(payload["score_given"]).set_score_maximum(payload["score_maximum"])
             .set_timestamp(payload["timestamp"]).set_activity_progress("Completed")
             .set_grading_progress("FullyGraded").set_user_id(payload["user_id"])
             .set_comment(f"GxP Bridge completion {payload['completion_id']}"))
    lineitem = None
    if not payload.get("lineitem_url"):
        if LINEITEM_SCOPE not in payload["scopes"]:
            raise outbox.PermanentFailure("the link has no line item and the tool may not create one")
        lineitem = (LineItem().set_label(f"GxP training item {payload['training_item_id']}")
                    .set_score_maximum(payload["score_maximum"])
                    .set_resource_id(f"gxp-training-item-{payload['training_item_id']}")
                    .set_tag("gxp-training"))
    try:
        service.put_grade(grade, lineitem)
    except LtiException as exc:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        if status in (400, 403, 404, 422):
            raise outbox.PermanentFailure(f"the platform refused the score ({status}): {exc}") from exc
        raise
    logger.info("AGS score for completion %s posted to %s", payload["completion_id"], platform.issuer)


# -- rosters (NRPS) ------------------------------------------------------------------------------

def _request_roster_sync(uow: UnitOfWork, context: LtiContext) -> None:
    session = uow.session
    if not context.memberships_url:
        return
    synced = context.roster_synced_at
    if synced is not None and uow.clock.now() - synced < ROSTER_SYNC_INTERVAL:
        return
    # One pending request per context is enough.
    pending = session.scalars(select(outbox.OutboxMessage).where(
        outbox.OutboxMessage.topic == NRPS_TOPIC, outbox.OutboxMessage.status == "pending")).all()
    if any(m.payload.get("context_pk") == context.id for m in pending):
        return
    outbox.enqueue(uow, NRPS_TOPIC, {"context_pk": context.id})


@dataclass
class RosterResult:
    """What a roster sync did."""

    members: int
    created: int
    inactive: int  # members the platform lists with a status other than Active
    removed: int = 0  # members no longer listed, marked Deleted by this sync


def sync_roster(uow: UnitOfWork, context_pk: int) -> RosterResult:
    """Read a course's roster through NRPS and bring its people and memberships up to date."""
    from pylti1p3.names_roles import NamesRolesProvisioningService  # the protocol stack, on use

    session = uow.session
    context = session.get(LtiContext, context_pk)
    if context is None:
        raise NotFound(f"no LTI course {context_pk}", field="context")
    platform = context.platform
    if not platform.active:
        raise Conflict(f"the platform {platform.issuer} is removed", field="platform_id")
    if not context.memberships_url:
        raise ValidationFailed("this course did not offer a roster service (NRPS) in its launches",
                               field="context")
    service = NamesRolesProvisioningService(_connector(session, platform),  # type: ignore[typeddict-item]
                                            {"context_memberships_url": context.memberships_url})
    members = service.get_members()
    created = inactive = removed = 0
    seen: set[int] = set()
    for member in members:
        identity = identity_from_claims(member)  # type: ignore[arg-type]
        if not identity.sub:
            continue
        known = people.find_person_by_identity(session, "lti", platform.issuer, identity.sub)
        person, _user = provision_person(uow, platform, identity)
        created += known is None
        status = str(member.get("status") or "Active")
        inactive += status != "Active"
        with uow.because(f"roster sync of {context.title or context.context_id}"):
            _membership(uow, context, person.id, identity.sub, identity.lti_roles, "nrps", status)
        seen.add(person.id)
    with uow.because(f"roster sync of {context.title or context.context_id}: no longer a member"):
        for row in session.scalars(select(LtiContextMember).where(LtiContextMember.context_pk == context.id)):
            if row.person_id not in seen and row.status != "Deleted":
                row.status = "Deleted"
                removed += 1
        context.roster_synced_at = uow.clock.now()
    session.flush()
    logger.info("roster of %s synced: %d members, %d new, %d inactive, %d removed", context.context_id,
                len(members), created, inactive, removed)
    return RosterResult(len(members), created, inactive, removed)


def send_roster_sync(uow: UnitOfWork, payload: dict[str, t.Any]) -> None:
    """Outbox sender: run a roster sync a launch asked for, in the relay's unit of work.

    The relay holds the write transaction (SQLite allows one writer) and runs the sender in a
    savepoint, so the sync's writes (people, memberships and their audit rows) are all or
    nothing; they are attributed to the platform and commit with the relay's bookkeeping.
    """
    context = uow.session.get(LtiContext, payload["context_pk"])
    if context is None:
        raise outbox.PermanentFailure(f"no LTI course {payload['context_pk']}")
    if not context.platform.active or not context.memberships_url:
        raise outbox.PermanentFailure(f"the course {context.context_id} has no active roster service")
    uow.act_as(launch_actor(context.platform))
    sync_roster(uow, context.id)
    uow.flush()


# -- learner and instructor views ----------------------------------------------------------------------

def course_compliance(session: Session, launch: LtiLaunch, now: dt.datetime) -> list[dict[str, t.Any]]:
    """Training status of every learner of the launch's course (instructors only), in the vocabulary
    and by the rule of the REST API (:func:`qms.training.standing.standing_of`).
    """
    if not is_instructor(launch.lti_roles):
        raise Forbidden("the course roster is shown to course staff only", code="role_required")
    if launch.context_id is None:
        return []
    context = session.scalar(select(LtiContext).where(LtiContext.platform_id == launch.platform_id,
                                                      LtiContext.context_id == launch.context_id))
    if context is None:
        return []
    linked_items = set(session.scalars(select(LtiResourceLink.training_item_id).where(
        LtiResourceLink.context_pk == context.id, LtiResourceLink.training_item_id.is_not(None))))
    rows = []
    members = [m for m in session.scalars(select(LtiContextMember).where(
        LtiContextMember.context_pk == context.id, LtiContextMember.status == "Active")).all()
        if not (is_instructor(m.lti_roles) and "Learner" not in context_roles(m.lti_roles))]
    # The one rule and the one vocabulary (compliant / due / overdue / not qualified), as the API.
    standings = qms_standing.standing_of(session, [m.person_id for m in members], now,
                                         item_ids=linked_items or None)
    for member in members:
        person = session.get(people.Person, member.person_id)
        assignments = qms_training.learner_assignments(session, member.person_id)
        if linked_items:
            assignments = [a for a in assignments if a["training_item"]["id"] in linked_items]
        counts = {s: 0 for s in ("open", "content_complete", "overdue", "completed")}
        for a in assignments:
            if a["status"] in counts:
                counts[a["status"]] += 1
        standing = standings[member.person_id]
        rows.append({"person_id": member.person_id, "name": person.display_name if person else "?",
                     "counts": counts, "assignments": assignments, "standing": standing,
                     "status": standing["status"], "status_label": standing["label"],
                     "compliant": standing["status"] == "compliant",
                     "outstanding": standing["outstanding"]})
    order = {s: i for i, s in enumerate(qms_standing.STANDINGS)}
    rows.sort(key=lambda r: (order[r["status"]], r["name"]))
    return rows
