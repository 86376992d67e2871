"""pylti1p3 bound to the database, and the checks it leaves to the tool.

pylti1p3 (the maintained fork ``pylti1p3next``) does the OIDC login redirect, the JWT
format, key lookup and signature, the deployment lookup and the per-message validators.
This module gives it a database-backed tool configuration and server-side state (no
cookie is needed, so launches work in an LMS iframe with third-party cookies blocked),
and adds what a regulated tool needs on top:

- state: required, issued by this tool, unexpired, used once, bound to the nonce;
- nonce: equal to the one issued with the state, consumed once (a replayed id_token fails);
- ``exp`` and ``iat`` required, ``iat`` not in the future and not older than the maximum age;
- ``aud`` contains our client id, every other ``aud`` entry is a client id of ours at the
  same issuer, ``azp`` is required with several audiences and must be our client id;
- ``target_link_uri`` points at this tool and equals the one of the login;
- only RSA signatures (RS256/384/512), the key chosen by ``kid``;
- unknown issuer, client id or deployment: refused with a 4xx, never a 500.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import typing as t

import jwt
import requests
from jwcrypto.jwk import JWK
from pylti1p3.cookie import CookieService
from pylti1p3.deployment import Deployment
from pylti1p3.exception import LtiException, LtiKeyException, LtiServiceException, OIDCException
from pylti1p3.launch_data_storage.base import LaunchDataStorage
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.oidc_login import OIDCLogin
from pylti1p3.redirect import Redirect
from pylti1p3.registration import Registration
from pylti1p3.request import Request
from pylti1p3.service_connector import ServiceConnector
from pylti1p3.session import SessionService
from pylti1p3.tool_config import ToolConfAbstract
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bridge.core.uow import UnitOfWork
from lti.launch_policy import (
    ALLOWED_ALGORITHMS,
    KEYSET_CACHE_SECONDS,
    KEYSET_REFRESH_SECONDS,
    STATE_LIFETIME_SECONDS,
    LaunchPolicy,
    LaunchRefused,
    LoginResult,
    http_session,
    keyset_cache_key,
    same_origin,
)
from lti.models import LtiDeployment, LtiPlatform, LtiStateEntry, LtiToolKey

logger = logging.getLogger(__name__)

# -- adapters -------------------------------------------------------------------------------

class ParamsRequest(Request):
    """A request seen by pylti1p3: its form or query parameters, no cookies, no session."""

    def __init__(self, params: t.Mapping[str, str], *, secure: bool) -> None:
        """Wrap ``params`` (the form of a POST or the query of a GET)."""
        self._params = dict(params)
        self._secure = secure

    @property
    def session(self) -> dict[str, t.Any]:
        """No browser session: state lives in the database."""
        return {}

    def is_secure(self) -> bool:
        """Whether the request came over HTTPS."""
        return self._secure

    def get_param(self, key: str) -> str:
        """A request parameter, or an empty string."""
        value = self._params.get(key)
        return value if isinstance(value, str) else ""

    def get_cookie(self, key: str) -> None:
        """Cookies are not used."""
        return None


class NoCookies(CookieService):
    """pylti1p3's state cookie is replaced by server-side state."""

    def get_cookie(self, name: str) -> None:
        """Never a cookie."""
        return None

    def set_cookie(self, name: str, value: t.Any, exp: int | None = 3600) -> None:
        """Set nothing: the state is checked against the database."""


class DatabaseStorage(LaunchDataStorage[t.Any]):
    """pylti1p3's launch data storage in the ``lti_state_entry`` table.

    It writes through the unit of work of the request that uses it (the login's or the
    launch's), never in a transaction of its own: the state and nonce issued at login commit
    with the login's audit rows, and consuming them at launch commits with the person and
    launch it creates, or not at all. A refused launch rolls back, so a forged token cannot burn
    a genuine state. Expiry is read from the unit of work's clock.
    """

    def __init__(self, uow: UnitOfWork) -> None:
        """Store through the unit of work ``uow``."""
        super().__init__()
        self.uow = uow
        self.session: Session = uow.session

    def now(self) -> dt.datetime:
        """The unit of work's time."""
        return self.uow.clock.now()

    def get_session_cookie_name(self) -> None:
        """Keys are global (unguessable state and nonce values), not per browser."""
        return None

    def can_set_keys_expiration(self) -> bool:
        """Every entry expires."""
        return True

    def get_value(self, key: str) -> t.Any:
        """The unexpired value stored under ``key``, or ``None``."""
        row = self.session.get(LtiStateEntry, self._prepare_key(key))
        if row is None or row.expires_at <= self.now():
            return None
        return row.value

    def set_value(self, key: str, value: t.Any, exp: int | None = None) -> None:
        """Store ``value`` under ``key`` for ``exp`` seconds."""
        expires = self.now() + dt.timedelta(seconds=exp or STATE_LIFETIME_SECONDS)
        self.session.merge(LtiStateEntry(key=self._prepare_key(key), value=value, expires_at=expires))
        self.session.flush()

    def check_value(self, key: str) -> bool:
        """Whether an unexpired value is stored under ``key``."""
        return self.get_value(key) is not None

    def consume(self, key: str) -> bool:
        """Delete the unexpired entry ``key``; true only for the one caller that deleted it."""
        result = self.session.execute(
            delete(LtiStateEntry).where(LtiStateEntry.key == self._prepare_key(key),
                                        LtiStateEntry.expires_at > self.now())
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


class DatabaseSessionService(SessionService):
    """pylti1p3's session service on :class:`DatabaseStorage`."""

    def __init__(self, storage: DatabaseStorage) -> None:
        """Keep state in ``storage``."""
        self.data_storage = storage
        self._launch_data_lifetime = STATE_LIFETIME_SECONDS

    def check_nonce(self, nonce: str) -> bool:
        """Consume the nonce: it passes once, then never again."""
        return t.cast(DatabaseStorage, self.data_storage).consume(self._get_key("nonce", nonce))

    def consume_state(self, state: str) -> bool:
        """Consume the state's parameters so the state cannot be used twice."""
        return t.cast(DatabaseStorage, self.data_storage).consume(self._get_key(state))

    def save_launch_data(self, key: str, jwt_body: t.Any) -> None:
        """Accepted launches are stored as :class:`lti.models.LtiLaunch` rows instead."""

    def set_state_valid(self, state: str, id_token_hash: str) -> None:
        """States are single-use: nothing to remember after the launch."""


class ToolRegistration(Registration):
    """A platform registration with the tool's active key and its ``kid``."""

    def __init__(self, platform: LtiPlatform, key: LtiToolKey | None) -> None:
        """Build from the database rows."""
        self.platform_id = platform.id
        self.set_issuer(platform.issuer).set_client_id(platform.client_id)
        self.set_auth_login_url(platform.auth_login_url).set_auth_token_url(platform.auth_token_url)
        if platform.auth_audience:
            self.set_auth_audience(platform.auth_audience)
        if platform.public_key_pem:
            self.set_key_set({"keys": [_pem_to_jwk(platform.public_key_pem)]})  # type: ignore[typeddict-item]
        else:
            self.set_key_set_url(platform.keyset_url)
        self._key = key
        if key is not None:
            self.set_tool_private_key(key.private_key_pem)

    def get_kid(self) -> str | None:
        """The ``kid`` of the signing key, as published in our JWKS."""
        return self._key.kid if self._key is not None else None

    def get_jwks(self) -> list[t.Mapping[str, t.Any]]:
        """The tool's public key."""
        return [self._key.public_jwk] if self._key is not None else []


def _pem_to_jwk(pem: str) -> dict[str, t.Any]:
    key = JWK.from_pem(pem.encode())
    public = json.loads(key.export_public())
    public.setdefault("kid", key.thumbprint())
    public.setdefault("alg", "RS256")
    return public


class DatabaseToolConf(ToolConfAbstract[ParamsRequest]):
    """Tool configuration read from ``lti_platform`` and ``lti_deployment``.

    An issuer may hold several client ids: registrations are always looked up by
    issuer and client id (with only the issuer, when it has exactly one).
    """

    def __init__(self, session: Session, key: LtiToolKey | None) -> None:
        """Read registrations through ``session``; sign with ``key``."""
        self.session = session
        self.key = key
        self.issuers_relation_types = {}

    def check_iss_has_one_client(self, iss: str) -> bool:
        """Always look registrations up by issuer and client id."""
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        """Always look registrations up by issuer and client id."""
        return True

    def platform(self, iss: str, client_id: str | None) -> LtiPlatform | None:
        """The active platform registration for ``iss`` and ``client_id``."""
        query = select(LtiPlatform).where(LtiPlatform.issuer == iss, LtiPlatform.active.is_(True))
        if client_id:
            return self.session.scalar(query.where(LtiPlatform.client_id == client_id))
        found = list(self.session.scalars(query.limit(2)))
        return found[0] if len(found) == 1 else None

    def find_registration_by_issuer(self, iss: str, *args: t.Any, **kwargs: t.Any) -> Registration:
        """The registration of an issuer that has a single client id."""
        platform = self.platform(iss, None)
        return ToolRegistration(platform, self.key) if platform else None  # type: ignore[return-value]

    def find_registration_by_params(self, iss: str, client_id: str, *args: t.Any,
                                    **kwargs: t.Any) -> Registration:
        """The registration of ``iss`` and ``client_id``."""
        platform = self.platform(iss, client_id)
        return ToolRegistration(platform, self.key) if platform else None  # type: ignore[return-value]

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        """The deployment of an issuer with a single client id."""
        return self.find_deployment_by_params(iss, deployment_id, None)  # type: ignore[arg-type]

    def find_deployment_by_params(self, iss: str, deployment_id: str, client_id: str,
                                  *args: t.Any, **kwargs: t.Any) -> Deployment | None:
        """The active deployment ``deployment_id`` of the registration."""
        platform = self.platform(iss, client_id)
        if platform is None:
            return None
        row = self.session.scalar(select(LtiDeployment).where(
            LtiDeployment.platform_id == platform.id, LtiDeployment.deployment_id == deployment_id,
            LtiDeployment.active.is_(True)))
        return Deployment().set_deployment_id(row.deployment_id) if row else None


# -- OIDC login ---------------------------------------------------------------------------------

class _UrlRedirect(Redirect[str]):
    def __init__(self, location: str) -> None:
        self.location = location

    def do_redirect(self) -> str:
        return self.location

    def do_js_redirect(self) -> str:
        return self.location

    def set_redirect_url(self, location: str) -> None:
        self.location = location

    def get_redirect_url(self) -> str:
        return self.location


class ToolOIDCLogin(OIDCLogin[ParamsRequest, DatabaseToolConf, DatabaseSessionService, NoCookies, str]):
    """pylti1p3's third-party initiated login, with the nonce bound to the state server-side."""

    def get_redirect(self, url: str) -> Redirect[str]:
        """The platform's authorisation URL."""
        return _UrlRedirect(url)

    def _generate_nonce(self) -> str:
        nonce = super()._generate_nonce()
        # Stored with the state by save_state_params, which pylti1p3 calls right after.
        self._state_params["nonce"] = nonce
        return nonce


def initiate_login(uow: UnitOfWork, key: LtiToolKey | None, params: t.Mapping[str, str], *,
                   base_url: str, secure: bool) -> LoginResult:
    """Check a login initiation and build the redirect to the platform's authorisation URL.

    Raises:
        LaunchRefused: Missing parameters, unknown issuer / client id / deployment, or a
            ``target_link_uri`` that is not this tool.
    """
    request = ParamsRequest(params, secure=secure)
    iss = request.get_param("iss")
    client_id = request.get_param("client_id")
    if not iss or not request.get_param("login_hint"):
        raise LaunchRefused("login_parameters", "the login initiation needs 'iss' and 'login_hint'",
                            issuer=iss or None, client_id=client_id or None)
    conf = DatabaseToolConf(uow.session, key)
    platform = conf.platform(iss, client_id or None)
    if platform is None:
        raise LaunchRefused(
            "unknown_registration",
            f"no active registration for issuer {iss!r}"
            + (f" and client id {client_id!r}" if client_id else " (several or none: send client_id)"),
            status=403, issuer=iss, client_id=client_id or None)
    deployment_id = request.get_param("lti_deployment_id")
    if deployment_id and deployment_id not in platform.deployment_ids:
        raise LaunchRefused("deployment_unknown", f"the deployment id {deployment_id!r} is not registered "
                            f"for {iss}", status=403, platform_id=platform.id, issuer=iss,
                            client_id=platform.client_id)
    target = request.get_param("target_link_uri")
    if not target or not same_origin(target, base_url):
        raise LaunchRefused("target_link_uri", f"the target_link_uri {target!r} is not this tool "
                            f"({base_url})", platform_id=platform.id, issuer=iss,
                            client_id=platform.client_id)
    storage = DatabaseStorage(uow)
    login = ToolOIDCLogin(request, conf, session_service=DatabaseSessionService(storage),
                          cookie_service=NoCookies())
    login.pass_params_to_launch({"iss": iss, "client_id": platform.client_id,
                                 "target_link_uri": target, "deployment_id": deployment_id or None})
    try:
        url = login.get_redirect_object(base_url.rstrip("/") + "/lti/launch").get_redirect_url()
    except (OIDCException, LtiException) as exc:
        raise LaunchRefused("login_parameters", str(exc), platform_id=platform.id, issuer=iss) from exc
    return LoginResult(url, platform.id)


# -- launch ---------------------------------------------------------------------------------------

def _is_number(value: t.Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class ToolMessageLaunch(MessageLaunch[ParamsRequest, DatabaseToolConf, DatabaseSessionService, NoCookies]):
    """pylti1p3's message launch with the tool's additional checks, in a safe order.

    Nothing that can be burnt (the state, the nonce) is consumed before the signature is
    verified, so a forged token cannot invalidate a genuine launch.
    """

    def __init__(self, request: ParamsRequest, conf: DatabaseToolConf, storage: DatabaseStorage,
                 policy: LaunchPolicy, requests_session: requests.Session | None = None) -> None:
        """Prepare the launch of ``request``."""
        super().__init__(request, conf, session_service=DatabaseSessionService(storage),
                         cookie_service=NoCookies(), requests_session=requests_session)
        self.storage = storage
        self.policy = policy
        self.platform: LtiPlatform | None = None
        self.state_params: dict[str, t.Any] = {}
        self.set_public_key_caching(storage, KEYSET_CACHE_SECONDS)

    def _get_request_param(self, key: str) -> str:
        return self._request.get_param(key)

    def get_public_key(self) -> tuple[str, str]:
        """The platform key for this token: its one registered key, or by ``kid`` from its keyset."""
        platform = self.platform
        if platform is not None and platform.public_key_pem:
            return platform.public_key_pem, self._jwt["header"]["alg"]
        try:
            return super().get_public_key()
        except LtiKeyException:
            # The platform may have rotated its key since we cached its key set: read it
            # again, at most every KEYSET_REFRESH_SECONDS so unknown kids cannot make us
            # hammer the platform.
            keyset_url = platform.keyset_url if platform is not None else None
            if not keyset_url or not self._forget_cached_keyset(keyset_url):
                raise
            self._registration.set_key_set(None)  # type: ignore[union-attr]
            return super().get_public_key()

    def _forget_cached_keyset(self, url: str) -> bool:
        key = self.storage._prepare_key(keyset_cache_key(url))
        row = self.storage.session.get(LtiStateEntry, key)
        if row is None:
            return False
        age = KEYSET_CACHE_SECONDS - (row.expires_at - self.storage.now()).total_seconds()
        if age < KEYSET_REFRESH_SECONDS:
            return False
        self.storage.session.delete(row)
        self.storage.session.flush()
        return True

    def get_client_id(self) -> str:
        """Our client id: ``azp`` when present, otherwise the (single or first) audience."""
        body = self._jwt.get("body", {})
        azp = body.get("azp")  # type: ignore[misc]
        if isinstance(azp, str) and azp:
            return azp
        aud = body.get("aud")
        if isinstance(aud, list):
            return aud[0] if aud and isinstance(aud[0], str) else ""
        return aud if isinstance(aud, str) else ""

    def _refuse(self, check: str, message: str, status: int = 400) -> LaunchRefused:
        body = self._jwt.get("body", {}) if isinstance(self._jwt, dict) else {}
        return LaunchRefused(check, message, status=status,
                             platform_id=self.platform.id if self.platform else None,
                             issuer=body.get("iss") if isinstance(body.get("iss"), str) else None,
                             client_id=self.get_client_id() or None if body else None)

    def validate(self) -> ToolMessageLaunch:
        """Run every check; raise :class:`LaunchRefused` naming the first that fails."""
        self._validated = True
        try:
            self._check_format()
            self._check_registration()
            self._check_signature_and_times()
            self._check_audience()
            self._check_state_and_nonce()
            self._check_target_link_uri()
            self._check_deployment()
            self._check_message()
        except LaunchRefused:
            self._validated = False
            raise
        return self

    def _check_format(self) -> None:
        if not self._get_request_param("id_token"):
            raise self._refuse("token_missing", "the launch carries no id_token")
        if not self._get_request_param("state"):
            raise self._refuse("state_missing", "the launch carries no state")
        try:
            self.validate_jwt_format()
        except LtiException as exc:
            raise self._refuse("token_format", f"the id_token is not a JWT: {exc}") from exc
        body, header = self._jwt.get("body"), self._jwt.get("header")
        if not isinstance(body, dict) or not isinstance(header, dict):
            raise self._refuse("token_format", "the id_token header and body must be JSON objects")
        if not isinstance(body.get("iss"), str) or not body.get("iss"):
            raise self._refuse("token_format", "the id_token has no issuer ('iss')")
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise self._refuse("signature", f"the signature algorithm {header.get('alg')!r} is refused; "
                               f"accepted: {', '.join(ALLOWED_ALGORITHMS)}", 401)

    def _check_registration(self) -> None:
        iss = self._jwt["body"]["iss"]
        client_id = self.get_client_id()
        self.platform = self._tool_config.platform(iss, client_id or None)
        if self.platform is None or not client_id:
            raise self._refuse("unknown_registration", f"no active registration for issuer {iss!r} "
                               f"and client id {client_id!r}", 403)
        self._registration = ToolRegistration(self.platform, self._tool_config.key)

    def _check_signature_and_times(self) -> None:
        try:
            public_key, alg = self.get_public_key()
        except (LtiException, AssertionError) as exc:
            raise self._refuse("signature", f"no platform key verifies this token: {exc}", 401) from exc
        except Exception as exc:  # network errors fetching the key set
            raise self._refuse("signature", f"the platform key set could not be read: {exc}", 401) from exc
        try:
            jwt.decode(
                self._get_id_token(), public_key, algorithms=[alg],
                audience=self.platform.client_id,  # type: ignore[union-attr]
                leeway=self.policy.clock_skew,
                # Times are checked below against the unit of work's clock, not the system's.
                options={"require": ["exp", "iat", "aud", "iss", "sub", "nonce"], "verify_aud": True,
                         "verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.MissingRequiredClaimError as exc:
            check = {"exp": "exp_missing", "iat": "iat_missing", "aud": "aud_mismatch"}.get(
                exc.claim, "claim_missing")
            raise self._refuse(check, f"the id_token has no '{exc.claim}' claim", 401) from exc
        except jwt.InvalidAudienceError as exc:
            raise self._refuse("aud_mismatch", f"the id_token is not addressed to client id "
                               f"{self.platform.client_id!r}", 401) from exc  # type: ignore[union-attr]
        except jwt.InvalidSignatureError as exc:
            raise self._refuse("signature", "the id_token signature is invalid", 401) from exc
        except jwt.InvalidTokenError as exc:
            raise self._refuse("signature", f"the id_token cannot be verified: {exc}", 401) from exc
        body = self._jwt["body"]
        exp, iat = body.get("exp"), body.get("iat")
        if not _is_number(exp):
            raise self._refuse("exp_missing", "the id_token's 'exp' is not a number", 401)
        if not _is_number(iat):
            raise self._refuse("iat_missing", "the id_token's 'iat' is not a number", 401)
        now = self.storage.now().timestamp()
        skew = self.policy.clock_skew
        if exp <= now - skew:
            raise self._refuse("expired", "the id_token has expired ('exp' is past)", 401)
        if iat > now + skew:
            raise self._refuse("iat_future", "the id_token was issued in the future ('iat')", 401)
        nbf = body.get("nbf")
        if nbf is not None and (not _is_number(nbf) or nbf > now + skew):
            raise self._refuse("iat_future", "the id_token is not valid yet ('nbf')", 401)
        if now - iat > self.policy.max_token_age:
            raise self._refuse("too_old", f"the id_token was issued more than {self.policy.max_token_age} s "
                               "ago", 401)

    def _check_audience(self) -> None:
        body = self._jwt["body"]
        platform = self.platform
        assert platform is not None
        aud = body.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if not all(isinstance(a, str) and a for a in audiences):
            raise self._refuse("aud_mismatch", "every 'aud' entry must be a non-empty string", 401)
        ours = set(self._tool_config.session.scalars(select(LtiPlatform.client_id).where(
            LtiPlatform.issuer == platform.issuer, LtiPlatform.active.is_(True))))
        strangers = [a for a in audiences if a not in ours]
        if strangers:
            raise self._refuse("aud_untrusted", f"the id_token is also addressed to {strangers!r}, "
                               "which are not client ids of this tool", 401)
        azp = body.get("azp")
        if len(audiences) > 1 and not azp:
            raise self._refuse("azp_missing", "an id_token with several audiences needs 'azp'", 401)
        if azp is not None and azp != platform.client_id:
            raise self._refuse("azp_mismatch", f"'azp' is {azp!r}, not our client id "
                               f"{platform.client_id!r}", 401)

    def _check_state_and_nonce(self) -> None:
        state = self._get_request_param("state")
        sessions = t.cast(DatabaseSessionService, self._session_service)
        params = sessions.get_state_params(state)
        if not params:
            raise self._refuse("state_unknown", "the state was not issued by this tool, has expired or "
                               "was already used", 401)
        self.state_params = dict(params)
        body = self._jwt["body"]
        if params.get("iss") != body.get("iss") or params.get("client_id") != self.platform.client_id:  # type: ignore[union-attr]
            raise self._refuse("state_mismatch", "the state was issued for another platform", 401)
        nonce = body.get("nonce")
        if not nonce or nonce != params.get("nonce"):
            raise self._refuse("nonce_mismatch", "the nonce is not the one issued with this state", 401)
        if not sessions.check_nonce(nonce):
            raise self._refuse("nonce_replayed", "this id_token's nonce was already used: a replayed "
                               "launch is refused", 401)
        sessions.consume_state(state)

    def _check_target_link_uri(self) -> None:
        target = self._jwt["body"].get("https://purl.imsglobal.org/spec/lti/claim/target_link_uri")
        if not isinstance(target, str) or not same_origin(target, self.policy.base_url):
            raise self._refuse("target_link_uri", f"the target_link_uri {target!r} is not this tool "
                               f"({self.policy.base_url})")
        if self.state_params.get("target_link_uri") and target != self.state_params["target_link_uri"]:
            raise self._refuse("target_link_uri", "the target_link_uri differs from the one of the login")

    def _check_deployment(self) -> None:
        try:
            self.validate_deployment()
        except LtiException as exc:
            platform_id = self.platform.id if self.platform else "?"
            hint = f"gxpbridge lti platform add-deployment {platform_id} <deployment id>"
            raise self._refuse("deployment_unknown", f"{exc} An administrator of GxP Bridge adds a "
                               f"deployment with: {hint}", 403) from exc
        wanted = self.state_params.get("deployment_id")
        got = self._get_deployment_id()
        if wanted and wanted != got:
            raise self._refuse("deployment_unknown", "the deployment id differs from the one of the login",
                               403)

    def _check_message(self) -> None:
        body = self._jwt["body"]
        if body.get("https://purl.imsglobal.org/spec/lti/claim/version") != "1.3.0":
            raise self._refuse("message_invalid", "only LTI version 1.3.0 is supported")
        try:
            self.validate_message()
        except LtiException as exc:
            raise self._refuse("message_invalid", str(exc)) from exc
        except (AttributeError, TypeError, KeyError, ValueError) as exc:  # a claim of the wrong type
            raise self._refuse("message_invalid", f"a claim has the wrong type: {exc}") from exc
        if not isinstance(body.get("sub"), str) or not body.get("sub"):
            raise self._refuse("message_invalid", "anonymous launches ('sub' missing) are refused: a "
                               "signature needs a known person")

    @property
    def claims(self) -> dict[str, t.Any]:
        """The verified id_token claims."""
        return dict(self._jwt["body"])

    @property
    def registration(self) -> ToolRegistration:
        """The registration the launch came through."""
        return t.cast(ToolRegistration, self._registration)


def keyset_to_prefetch(uow: UnitOfWork, params: t.Mapping[str, str]) -> str | None:
    """The key set URL of the launching platform when it is not cached yet, else ``None``.

    Anything odd in the token is left to the launch's own checks, which then refuse it.
    """
    parts = (params.get("id_token") or "").split(".")
    if len(parts) != 3:
        return None
    try:
        body = json.loads(MessageLaunch.urlsafe_b64decode(parts[1]))
    except Exception:
        return None
    if not isinstance(body, dict):
        return None
    aud = body.get("aud")
    client_id = body.get("azp") or (aud[0] if isinstance(aud, list) and aud else aud)
    if not isinstance(body.get("iss"), str) or not isinstance(client_id, str):
        return None
    platform = DatabaseToolConf(uow.session, None).platform(body["iss"], client_id)
    if platform is None or not platform.keyset_url:
        return None
    if DatabaseStorage(uow).get_value(keyset_cache_key(platform.keyset_url)) is not None:
        return None
    return platform.keyset_url


def cache_keyset(uow: UnitOfWork, url: str, keyset: dict[str, t.Any]) -> None:
    """Keep ``keyset`` for :data:`KEYSET_CACHE_SECONDS` where the launch's key lookup finds it."""
    DatabaseStorage(uow).set_value(keyset_cache_key(url), keyset, KEYSET_CACHE_SECONDS)


def validate_launch(uow: UnitOfWork, key: LtiToolKey | None, params: t.Mapping[str, str], *,
                    policy: LaunchPolicy, secure: bool,
                    requests_session: requests.Session | None = None) -> ToolMessageLaunch:
    """Validate a launch POST (``id_token`` and ``state``); return the verified launch.

    Raises:
        LaunchRefused: A check failed; nothing of the launch is kept.
    """
    storage = DatabaseStorage(uow)
    launch = ToolMessageLaunch(ParamsRequest(params, secure=secure), DatabaseToolConf(uow.session, key),
                               storage, policy, requests_session=requests_session or http_session())
    return launch.validate()


class CachingServiceConnector(ServiceConnector):
    """pylti1p3's service connector with a per-process access-token cache."""

    _tokens: t.ClassVar[dict[str, tuple[str, float]]] = {}

    # Access tokens expire at the platform in real time: this cache reads the system clock on
    # purpose (the injected clock may be moved by tests and the demo; the platform's is not).

    def _get_cached_access_token(self, scope_key: str) -> str | None:
        cached = self._tokens.get(self._cache_key(scope_key))
        if cached and cached[1] > time.time():
            return cached[0]
        return None

    def _cache_access_token(self, scope_key: str, access_token: str, expires_in: float) -> None:
        # Renew a little before the platform's expiry.
        expires = time.time() + max(float(expires_in) - 30, 0)
        self._tokens[self._cache_key(scope_key)] = (access_token, expires)

    def _cache_key(self, scope_key: str) -> str:
        return f"{self._registration.get_client_id()}|{self._registration.get_auth_token_url()}|{scope_key}"

    def make_service_request(self, scopes: t.Sequence[str], url: str, **kwargs: t.Any) -> t.Any:
        """Call an LTI service; a 401 drops the cached token so the outbox retry gets a fresh one.

        A platform may revoke a token before its ``expires_in`` (restart, key rotation): without
        this, every retry would resend the same rejected token until it expired.
        """
        try:
            return super().make_service_request(scopes, url, **kwargs)
        except LtiServiceException as exc:
            if exc.response is not None and exc.response.status_code == 401:
                self._tokens.pop(self._cache_key(self._scope_key(scopes)), None)
            raise

    @classmethod
    def clear_cache(cls) -> None:
        """Forget every cached access token."""
        cls._tokens.clear()
