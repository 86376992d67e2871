"""One test per security check of the launch, each with a forged, altered or replayed token,
over real HTTP. A refusal is a 4xx page naming the check, an audit row, and nothing created.
"""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
import requests
from sqlalchemy import func, select

from bridge.core.audit import AuditEvent
from bridge.core.people import Person
from lti.models import LtiLaunch, LtiPlatform, LtiStateEntry
from tests.lti.conftest import (
    CLAIM,
    base_claims,
    initiate,
    login_params,
    platform_kid,
    post_launch,
    sign,
)
from tests.lti.platform import new_rsa_pem

NOW = int(time.time())


def check_of(response: requests.Response) -> str:
    found = re.search(r'<code id="check">([^<]+)</code>', response.text)
    return found.group(1) if found else f"<no check in page: {response.status_code} {response.text[:200]}>"


def counts(db) -> tuple[int, int, int]:
    with db.read_sessions() as s:
        return (s.scalar(select(func.count()).select_from(Person)),
                s.scalar(select(func.count()).select_from(LtiLaunch)),
                s.scalar(select(func.count()).select_from(AuditEvent).where(
                    AuditEvent.action.in_(["lti.launch_refused", "lti.login_refused"]))))


def assert_refused(lms, db, response, status: int, check: str, before) -> None:
    assert response.status_code == status, (response.status_code, check_of(response))
    assert check_of(response) == check
    people, launches, refusals = counts(db)
    assert (people, launches) == before[:2], "a refused launch created records"
    assert refusals == before[2] + 1, "the refusal was not audited"


def launch_with(lms, claims_overrides=None, *, key=None, kid=None, alg="RS256", mutate=None,
                login_overrides=None):
    login = initiate(lms.platform.base, lms.tool_base, login_params(lms, **(login_overrides or {})))
    claims = base_claims(lms, login, **(claims_overrides or {}))
    if mutate:
        mutate(claims)
    token = sign(claims, key or lms.platform.private_pem, kid or platform_kid(lms.platform), alg)
    return login, token, post_launch(lms, token, login.state)


# -- the baseline: a well-formed token is accepted ------------------------------------------------

def test_valid_forged_by_test_is_accepted(lms, db):
    _login, _token, response = launch_with(lms)
    assert response.status_code == 303, check_of(response)
    assert counts(db)[1] == 1


# -- one test per check ------------------------------------------------------------------------------

CASES = [
    # (test id, claim overrides, expected status, expected check)
    ("exp_missing", {"exp": None}, 401, "exp_missing"),
    ("iat_missing", {"iat": None}, 401, "iat_missing"),
    ("expired", {"iat": NOW - 200, "exp": NOW - 100}, 401, "expired"),
    ("too_old", {"iat": NOW - 3600, "exp": NOW + 3600}, 401, "too_old"),
    ("iat_in_future", {"iat": NOW + 3600, "exp": NOW + 7200}, 401, "iat_future"),
    ("nbf_in_future", {"nbf": NOW + 3600}, 401, "iat_future"),
    ("aud_other_client", {"aud": "someone-else", "azp": None}, 403, "unknown_registration"),
    ("aud_missing_our_client", {"aud": ["someone-else"], "azp": "gxp-tool-client"}, 401, "aud_mismatch"),
    ("aud_untrusted_extra_entry", {"aud": ["gxp-tool-client", "evil-tool"]}, 401, "aud_untrusted"),
    ("azp_mismatch", {"azp": "evil-tool"}, 403, "unknown_registration"),
    ("issuer_unknown", {"iss": "https://evil.example"}, 403, "unknown_registration"),
    ("target_link_uri_elsewhere", {CLAIM + "target_link_uri": "https://evil.example/lti/launch"}, 400,
     "target_link_uri"),
    ("deployment_unknown", {CLAIM + "deployment_id": "999"}, 403, "deployment_unknown"),
    ("lti_version", {CLAIM + "version": "1.1.0"}, 400, "message_invalid"),
    ("message_type_unknown", {CLAIM + "message_type": "LtiMadeUpRequest"}, 400, "message_invalid"),
    ("roles_missing", {CLAIM + "roles": None}, 400, "message_invalid"),
    ("sub_missing", {"sub": None}, 401, "claim_missing"),
]


@pytest.mark.parametrize(("overrides", "status", "check"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_forged_claims_are_refused(lms, db, overrides, status, check):
    before = counts(db)
    _login, _token, response = launch_with(lms, overrides)
    assert_refused(lms, db, response, status, check, before)


def test_azp_differs_from_our_client_with_ours_in_aud(lms, db, runner):
    # A second registration of the same issuer: the token names it in azp but is for us.
    p = lms.platform
    result = runner.invoke(args=["lti", "platform", "add", "--issuer", p.issuer,
                                 "--client-id", "second-client",
                                 "--deployment-id", "1", "--auth-login-url", p.base + "/auth",
                                 "--auth-token-url", p.base + "/token", "--keyset-url", p.base + "/jwks"])
    assert result.exit_code == 0, result.output
    before = counts(db)
    login = initiate(p.base, lms.tool_base, login_params(lms))
    claims = base_claims(lms, login, aud=["gxp-tool-client", "second-client"], azp="second-client")
    response = post_launch(lms, sign(claims, p.private_pem, platform_kid(p)), login.state)
    # Looked up by azp: the state was issued for gxp-tool-client, not second-client.
    assert_refused(lms, db, response, 401, "state_mismatch", before)


def test_several_audiences_without_azp(lms, db, runner):
    p = lms.platform
    added = runner.invoke(args=["lti", "platform", "add", "--issuer", p.issuer,
                                "--client-id", "second-client",
                                "--deployment-id", "1", "--auth-login-url", p.base + "/auth",
                                "--auth-token-url", p.base + "/token", "--keyset-url", p.base + "/jwks"])
    assert added.exit_code == 0, added.output
    before = counts(db)
    _l, _t, response = launch_with(lms, {"aud": ["gxp-tool-client", "second-client"], "azp": None})
    assert_refused(lms, db, response, 401, "azp_missing", before)


def test_signature_by_another_key_is_refused(lms, db):
    before = counts(db)
    other_private, _public = new_rsa_pem()
    _l, _t, response = launch_with(lms, key=other_private)  # same kid, wrong key
    assert_refused(lms, db, response, 401, "signature", before)


def test_unknown_kid_is_refused(lms, db):
    before = counts(db)
    _l, _t, response = launch_with(lms, kid="no-such-key")
    assert_refused(lms, db, response, 401, "signature", before)


def test_symmetric_algorithm_is_refused(lms, db):
    # Classic algorithm confusion: HMAC "signed" with the platform's public key.
    before = counts(db)
    login = initiate(lms.platform.base, lms.tool_base, login_params(lms))
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "kid": platform_kid(lms.platform), "typ": "JWT"}).encode())
    body = b64(json.dumps(base_claims(lms, login)).encode())
    mac = hmac.new(lms.platform.public_pem.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    response = post_launch(lms, f"{header}.{body}.{b64(mac)}", login.state)
    assert_refused(lms, db, response, 401, "signature", before)


def test_unsigned_token_is_refused(lms, db):
    before = counts(db)
    login = initiate(lms.platform.base, lms.tool_base, login_params(lms))
    token = __import__("jwt").encode(base_claims(lms, login), None, algorithm="none")
    response = post_launch(lms, token, login.state)
    assert_refused(lms, db, response, 401, "signature", before)


def test_replayed_id_token_is_refused(lms, db):
    login, token, first = launch_with(lms)
    assert first.status_code == 303
    before = counts(db)
    replay = post_launch(lms, token, login.state)
    assert_refused(lms, db, replay, 401, "state_unknown", before)


def test_replayed_id_token_with_a_fresh_state_is_refused(lms, db):
    _login, token, first = launch_with(lms)
    assert first.status_code == 303
    before = counts(db)
    fresh = initiate(lms.platform.base, lms.tool_base, login_params(lms))
    replay = post_launch(lms, token, fresh.state)
    assert_refused(lms, db, replay, 401, "nonce_mismatch", before)


def test_nonce_not_issued_with_the_state_is_refused(lms, db):
    before = counts(db)
    _l, _t, response = launch_with(lms, {"nonce": "made-up-nonce"})
    assert_refused(lms, db, response, 401, "nonce_mismatch", before)


def test_state_missing_unknown_and_expired(lms, db):
    before = counts(db)
    login = initiate(lms.platform.base, lms.tool_base, login_params(lms))
    token = sign(base_claims(lms, login), lms.platform.private_pem, platform_kid(lms.platform))
    response = requests.post(lms.tool_base + "/lti/launch", data={"id_token": token}, allow_redirects=False)
    assert_refused(lms, db, response, 400, "state_missing", before)
    before = counts(db)
    response = post_launch(lms, token, "state-forged")
    assert_refused(lms, db, response, 401, "state_unknown", before)
    from bridge.core.db import utcnow

    with db.write_sessions() as s:  # the login is older than the state lifetime
        for row in s.scalars(select(LtiStateEntry)):
            row.expires_at = utcnow()
        s.commit()
    before = counts(db)
    response = post_launch(lms, token, login.state)
    assert_refused(lms, db, response, 401, "state_unknown", before)


def test_malformed_and_missing_token(lms, db):
    before = counts(db)
    login = initiate(lms.platform.base, lms.tool_base, login_params(lms))
    response = post_launch(lms, "not-a-jwt", login.state)
    assert_refused(lms, db, response, 400, "token_format", before)
    before = counts(db)
    response = requests.post(lms.tool_base + "/lti/launch", data={"state": login.state},
                             allow_redirects=False)
    assert_refused(lms, db, response, 400, "token_missing", before)
    before = counts(db)
    response = requests.get(lms.tool_base + "/lti/launch", allow_redirects=False)
    assert_refused(lms, db, response, 405, "method", before)


def test_removed_platform_is_refused(lms, db, runner):
    login = initiate(lms.platform.base, lms.tool_base, login_params(lms))
    token = sign(base_claims(lms, login), lms.platform.private_pem, platform_kid(lms.platform))
    with db.read_sessions() as s:
        platform_id = s.scalar(select(LtiPlatform.id))
    result = runner.invoke(args=["lti", "platform", "remove", str(platform_id), "--reason", "LMS retired"])
    assert result.exit_code == 0, result.output
    before = counts(db)
    response = post_launch(lms, token, login.state)
    assert_refused(lms, db, response, 403, "unknown_registration", before)


# -- the login initiation ---------------------------------------------------------------------------------

LOGIN_CASES = [
    ("unknown_issuer", {"iss": "https://evil.example"}, 403, "unknown_registration"),
    ("unknown_client", {"client_id": "nobody"}, 403, "unknown_registration"),
    ("unknown_deployment", {"lti_deployment_id": "77"}, 403, "deployment_unknown"),
    ("target_elsewhere", {"target_link_uri": "https://evil.example/steal"}, 400, "target_link_uri"),
    ("no_login_hint", {"login_hint": None}, 400, "login_parameters"),
    ("no_issuer", {"iss": None}, 400, "login_parameters"),
]


@pytest.mark.parametrize(("overrides", "status", "check"), [c[1:] for c in LOGIN_CASES],
                         ids=[c[0] for c in LOGIN_CASES])
@pytest.mark.parametrize("method", ["get", "post"])
def test_login_initiation_refusals(lms, db, overrides, status, check, method):
    before = counts(db)
    params = login_params(lms, **overrides)
    response = requests.request(method, lms.tool_base + "/lti/login",
                                **({"data": params} if method == "post" else {"params": params}),
                                allow_redirects=False, timeout=30)
    assert_refused(lms, db, response, status, check, before)


def test_deep_link_return_url_must_be_http(lms, db):
    """A registered platform cannot make the tool post its response to a javascript: URL."""
    from tests.lti.platform import INSTRUCTOR

    login = initiate(lms.platform.base, lms.tool_base, login_params(lms, login_hint="2"))
    claims = base_claims(lms, login, sub="2", **{
        CLAIM + "roles": [INSTRUCTOR], CLAIM + "message_type": "LtiDeepLinkingRequest",
        CLAIM + "resource_link": None,
        "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings": {
            "deep_link_return_url": "javascript:alert(document.domain)",
            "accept_types": ["ltiResourceLink"], "accept_presentation_document_targets": ["iframe"]}})
    token = sign(claims, lms.platform.private_pem, platform_kid(lms.platform))
    response = post_launch(lms, token, login.state)
    assert response.status_code == 303
    page = requests.get(lms.tool_base + response.headers["Location"])
    assert page.status_code == 400 and "must be http(s)" in page.text
    assert "javascript:alert" not in page.text


MALFORMED = [
    ("aud_number", {"aud": 123, "azp": None}), ("aud_list_of_numbers", {"aud": [123], "azp": None}),
    ("azp_number", {"azp": 5}), ("iat_text", {"iat": "yesterday"}), ("exp_text", {"exp": "tomorrow"}),
    ("nonce_number", {"nonce": 5}), ("roles_text", {CLAIM + "roles": "Learner"}),
    ("message_type_number", {CLAIM + "message_type": 5}),
    ("deployment_number", {CLAIM + "deployment_id": 1}),
    ("context_text", {CLAIM + "context": "course"}), ("resource_link_text", {CLAIM + "resource_link": "x"}),
    ("custom_text", {CLAIM + "custom": "x"}), ("sub_number", {"sub": 3}),
    ("target_number", {CLAIM + "target_link_uri": 1}), ("name_object", {"name": {"a": 1}}),
    ("email_number", {"email": 5}),
    ("ags_text", {"https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": "x"}),
    ("nrps_list", {"https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice": []}),
]


def test_malformed_claims_never_cause_a_server_error(lms, db):
    """Odd types in a correctly signed token: accepted when harmless, otherwise a 4xx refusal."""
    for name, overrides in MALFORMED:
        _l, _t, response = launch_with(lms, overrides)
        assert response.status_code in (303, 400, 401, 403), (name, response.status_code, response.text[:300])


def test_launch_times_follow_the_injected_clock(lms, db, clock):
    """Token age, state expiry and the launch's lifetime are read from the app's clock."""
    # A token signed now is too old for a tool whose clock is 10 minutes ahead.
    login = initiate(lms.platform.base, lms.tool_base, login_params(lms))
    token = sign(base_claims(lms, login), lms.platform.private_pem, platform_kid(lms.platform))
    clock.advance(dt.timedelta(minutes=9))
    before = counts(db)
    assert_refused(lms, db, post_launch(lms, token, login.state), 401, "expired", before)
    # The state issued at login expires after 10 minutes of the tool's clock.
    clock.advance(dt.timedelta(minutes=-9))
    login = initiate(lms.platform.base, lms.tool_base, login_params(lms))
    clock.advance(dt.timedelta(minutes=11))
    fresh = base_claims(lms, login)
    fresh["iat"], fresh["exp"] = int(clock.now().timestamp()), int(clock.now().timestamp()) + 60
    token = sign(fresh, lms.platform.private_pem, platform_kid(lms.platform))
    before = counts(db)
    assert_refused(lms, db, post_launch(lms, token, login.state), 401, "state_unknown", before)
    # An accepted launch's pages expire after two hours of the tool's clock.
    clock.advance(dt.timedelta(minutes=-11))
    _login, _token, response = launch_with(lms)
    assert response.status_code == 303
    page = lms.tool_base + response.headers["Location"]
    assert requests.get(page).status_code == 200
    clock.advance(dt.timedelta(hours=2, seconds=1))
    assert requests.get(page).status_code == 401
