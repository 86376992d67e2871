"""LTI Dynamic Registration (IMS LTI-DR 1.0) on top of pylti1p3's ``DynamicRegistration``.

The LMS administrator pastes our registration URL (which carries a one-time token an
administrator of GxP Bridge created) as the "Tool URL" (Moodle) or the dynamic
registration URL (Canvas). The platform opens it with ``openid_configuration`` and
``registration_token``; we read its configuration, post our tool configuration and
store the registration it returns.
"""

from __future__ import annotations

import logging
import typing as t
from urllib.parse import urlsplit

import requests
from pylti1p3.dynamic_registration import DynamicRegistration
from pylti1p3.exception import LtiException

from bridge.core import audit
from bridge.core.errors import ValidationFailed
from bridge.core.uow import UnitOfWork
from lti import services
from lti.launch_policy import http_session
from lti.models import LtiPlatform

logger = logging.getLogger(__name__)

PLATFORM_CONF = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONF = "https://purl.imsglobal.org/spec/lti-tool-configuration"


class RegistrationFailed(ValidationFailed):
    """The platform's configuration or its answer to our registration is unusable."""

    status = 502
    code = "registration_failed"


class ToolDynamicRegistration(DynamicRegistration):
    """Our tool configuration, sent to the platform's registration endpoint."""

    client_name = "GxP Bridge"
    description = "Controlled training: read-and-understand with e-signature, versioned completions."

    def __init__(self, base_url: str, openid_configuration: str, registration_token: str | None,
                 site_name: str = "GxP Bridge") -> None:
        """Register this tool (at ``base_url``) with the platform whose configuration is given."""
        self.base_url = base_url.rstrip("/")
        self.openid_configuration_url = openid_configuration
        self.registration_token = registration_token or None
        self.client_name = site_name

    def get_request_session(self) -> requests.Session:
        """HTTP with timeouts."""
        return http_session()

    def get_initiate_login_uri(self) -> str:
        """Our OIDC login initiation URL."""
        return self.base_url + "/lti/login"

    def get_jwks_uri(self) -> str:
        """Our public keys."""
        return self.base_url + "/lti/jwks"

    def get_redirect_uris(self) -> list[str]:
        """Where the platform posts id_tokens."""
        return [self.base_url + "/lti/launch"]

    def get_target_link_uri(self) -> str:
        """The default launch target."""
        return self.base_url + "/lti/launch"

    def get_domain(self) -> str:
        """Host (and port) of the tool."""
        return urlsplit(self.base_url).netloc

    def get_logo_uri(self) -> str:
        """No logo yet; the platform shows the name."""
        return ""

    def get_scopes(self) -> list[str]:
        """Grades and rosters."""
        return [
            "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
            "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
            "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
            "https://purl.imsglobal.org/spec/lti-ags/scope/score",
            "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
        ]

    def get_claims(self) -> list[str]:
        """The identity claims a signature needs (a printed name) and e-mail for linking."""
        return ["iss", "sub", "name", "given_name", "family_name", "email"]

    def get_messages(self) -> list[dict[str, t.Any]]:
        """Deep linking (instructors place training items) and resource links."""
        return [
            {"type": "LtiDeepLinkingRequest", "target_link_uri": self.base_url + "/lti/launch",
             "label": "GxP Bridge training", "placements": ["ContentArea"]},
            {"type": "LtiResourceLinkRequest", "target_link_uri": self.base_url + "/lti/launch",
             "label": "My GxP training"},
        ]

    def lti_registration_data(self) -> dict[str, t.Any]:
        """pylti1p3's registration document, without an empty logo."""
        data = super().lti_registration_data()
        if not data.get("logo_uri"):
            data.pop("logo_uri", None)
        return data

    def get_openid_configuration_endpoint(self) -> str:
        """The platform's configuration URL, as it sent it."""
        return self.openid_configuration_url

    def get_registration_token(self) -> str:
        """The platform's own registration token, if it sent one."""
        return self.registration_token  # type: ignore[return-value]

    def get_openid_configuration(self) -> dict[str, t.Any]:
        """Read and check the platform's OpenID configuration."""
        try:
            response = self.get_request_session().get(self.openid_configuration_url)
            response.raise_for_status()
            conf = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise RegistrationFailed(f"the platform configuration at {self.openid_configuration_url} "
                                     f"could not be read: {exc}", field="openid_configuration") from exc
        if not isinstance(conf, dict):
            raise RegistrationFailed("the platform configuration is not a JSON object",
                                     field="openid_configuration")
        missing = [k for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri",
                               "registration_endpoint", PLATFORM_CONF) if not conf.get(k)]
        if missing:
            raise RegistrationFailed(f"the platform configuration lacks {', '.join(missing)}",
                                     field="openid_configuration")
        return conf

    def complete_registration(self, openid_configuration: dict[str, t.Any],
                              openid_registration: dict[str, t.Any]) -> dict[str, t.Any]:
        """Return both documents; the caller stores them in its transaction."""
        return {"configuration": openid_configuration, "registration": openid_registration}


def register_platform(uow: UnitOfWork, *, gxp_token: str, openid_configuration: str,
                      registration_token: str | None, base_url: str, site_name: str) -> LtiPlatform:
    """Run Dynamic Registration with a platform and store the registration.

    Raises:
        Forbidden: The one-time token is unknown, used or expired.
        RegistrationFailed: The platform's configuration or answer is unusable.
    """
    token = services.check_registration_token(uow, gxp_token)
    if not openid_configuration or not openid_configuration.startswith(("http://", "https://")):
        raise ValidationFailed("the platform did not send its openid_configuration URL",
                               field="openid_configuration")
    flow = ToolDynamicRegistration(base_url, openid_configuration, registration_token, site_name)
    try:
        result = flow.register()
    except LtiException as exc:
        raise RegistrationFailed(f"the platform refused the registration: {exc}",
                                 field="registration_endpoint") from exc
    except (AssertionError, requests.RequestException, KeyError, ValueError) as exc:
        raise RegistrationFailed(f"registration failed: {exc or type(exc).__name__}",
                                 field="registration_endpoint") from exc
    conf, answer = result["configuration"], result["registration"]
    client_id = answer.get("client_id")
    tool_conf = answer.get(TOOL_CONF) or {}
    deployment_id = tool_conf.get("deployment_id")
    if not client_id:
        raise RegistrationFailed("the platform's answer has no client_id", field="registration_endpoint")
    platform_conf = conf.get(PLATFORM_CONF) or {}
    name = " ".join(str(x) for x in (platform_conf.get("product_family_code"), conf["issuer"]) if x)
    if urlsplit(openid_configuration).hostname != urlsplit(conf["issuer"]).hostname:
        logger.warning("registration: issuer %s is not on the configuration host %s", conf["issuer"],
                       openid_configuration)
    platform = services.add_platform(
        uow, issuer=conf["issuer"], client_id=str(client_id),
        deployment_ids=[str(deployment_id)] if deployment_id else [],
        auth_login_url=conf["authorization_endpoint"], auth_token_url=conf["token_endpoint"],
        keyset_url=conf["jwks_uri"], auth_audience=conf.get("authorization_server"),
        name=name[:200], registered_by="dynamic")
    services.redeem_registration_token(uow, token, platform)
    audit.record(uow, "lti.platform_registered", "lti_platform", platform.id,
                 new={"issuer": platform.issuer, "client_id": platform.client_id,
                      "deployment_id": deployment_id, "openid_configuration": openid_configuration,
                      "registration_token_id": token.id},
                 reason="LTI Dynamic Registration")
    return platform
