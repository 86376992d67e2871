"""A launch exactly as Moodle 4.5 sends it (from the captures), Dynamic Registration against
the test LMS, the platform CLI and the tool keys.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import requests
from sqlalchemy import select

from bridge.core import people
from bridge.core.accounts import UserAccount
from bridge.core.audit import AuditEvent
from lti.models import LtiPlatform, LtiRegistrationToken
from tests.conftest import MOODLE_CAPTURES
from tests.lti.conftest import follow, launch_via_lms
from tests.lti.platform import new_rsa_pem

MOODLE = MOODLE_CAPTURES


def test_moodle_45_launch_capture_is_accepted(app, client, runner, db, tmp_path: Path):
    """The captured login initiation and id_token claims, signed with a test key for Moodle."""
    capture = json.loads((MOODLE / "lti-launch-id_token.json").read_text())
    initiation = json.loads((MOODLE / "lti-login-initiation.json").read_text())
    header, claims = capture["header"], capture["claims"]
    # The tool the capture was made against lived at http://127.0.0.1:5055.
    app.config["LTI_BASE_URL"] = "http://127.0.0.1:5055"
    private_pem, public_pem = new_rsa_pem()
    key_file = tmp_path / "moodle.pem"
    key_file.write_text(public_pem)
    result = runner.invoke(args=[
        "lti", "platform", "add", "--issuer", claims["iss"], "--client-id", claims["aud"],
        "--deployment-id", claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"],
        "--auth-login-url", "http://127.0.0.1:8081/mod/lti/auth.php",
        "--auth-token-url", "http://127.0.0.1:8081/mod/lti/token.php",
        "--public-key-file", str(key_file)])
    assert result.exit_code == 0, result.output

    login = client.post("/lti/login", data=initiation)
    assert login.status_code == 302
    location = urlsplit(login.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "http://127.0.0.1:8081/mod/lti/auth.php"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["redirect_uri"] == "http://127.0.0.1:5055/lti/launch"
    assert query["login_hint"] == initiation["login_hint"]
    assert query["lti_message_hint"] == initiation["lti_message_hint"]
    assert query["client_id"] == initiation["client_id"]

    now = int(time.time())
    lifetime = claims["exp"] - claims["iat"]  # Moodle's tokens live 60 s
    launched = dict(claims, nonce=query["nonce"], iat=now, exp=now + lifetime)
    token = jwt.encode(launched, private_pem, algorithm=header["alg"], headers={"kid": header["kid"]})
    response = client.post("/lti/launch", data={"id_token": token, "state": query["state"]})
    assert response.status_code == 303, response.get_data(as_text=True)
    page = client.get(response.headers["Location"])
    assert page.status_code == 200 and "My training" in page.get_data(as_text=True)

    with db.read_sessions() as s:
        person = people.find_person_by_identity(s, "lti", "http://127.0.0.1:8081", "3")
        assert person is not None and person.display_name == "Stu Dent"
        # Moodle's xAPI log store names the learner by an account: Moodle URL + user id.
        assert people.find_person_by_identity(s, "xapi_account", "http://127.0.0.1:8081", "3").id == person.id
        user = s.scalar(select(UserAccount).where(UserAccount.person_id == person.id))
        assert user.username == "student1@lti1" and user.roles == {"learner"}

    # The same token again: refused (replay), nothing new.
    replay = client.post("/lti/launch", data={"id_token": token, "state": query["state"]})
    assert replay.status_code == 401


def test_dynamic_registration_with_one_time_token(lms, db):
    result = lms.runner.invoke(args=["lti", "registration-token", "create", "--label", "Test LMS"])
    assert result.exit_code == 0, result.output
    url = result.output.strip().splitlines()[0]
    assert url.startswith(lms.tool_base + "/lti/register?gxp_token=gxpreg_")
    platform = lms.platform
    params = {"openid_configuration": platform.base + "/.well-known/openid-configuration",
              "registration_token": platform.state.registration_token}
    # As Moodle does: the "Tool URL" with the platform's parameters appended.
    confirm = requests.get(url, params=params)
    assert confirm.status_code == 200 and 'id="register"' in confirm.text
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', confirm.text))
    done = requests.post(lms.tool_base + "/lti/register", data=fields)
    assert done.status_code == 200, done.text
    assert "org.imsglobal.lti.close" in done.text and "dyn-client-1" in done.text
    # The closing script runs by the response's nonce, not by 'unsafe-inline'; the platform frames it.
    nonce = done.text.split('<script nonce="', 1)[1].split('"', 1)[0]
    script_src = done.headers["Content-Security-Policy"].split("script-src", 1)[1].split(";")[0]
    assert script_src.split() == ["'self'", f"'nonce-{nonce}'"]
    assert platform.base in done.headers["Content-Security-Policy"].split("frame-ancestors")[1].split(";")[0]
    [sent] = platform.state.registrations
    assert sent["initiate_login_uri"] == lms.tool_base + "/lti/login"
    assert sent["jwks_uri"] == lms.tool_base + "/lti/jwks"
    assert sent["redirect_uris"] == [lms.tool_base + "/lti/launch"]
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in sent["scope"]
    with db.read_sessions() as s:
        registered = s.scalar(select(LtiPlatform).where(LtiPlatform.client_id == "dyn-client-1"))
        assert registered.registered_by == "dynamic" and registered.deployment_ids == ["7"]
        assert registered.keyset_url == platform.base + "/jwks"
        assert s.scalar(select(LtiRegistrationToken)).used_at is not None
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "lti.platform_registered"))
    # The token is single-use.
    again = requests.post(lms.tool_base + "/lti/register", data=fields)
    assert again.status_code == 403 and "already used" in again.text


def test_dynamic_registration_refusals(lms, db):
    no_token = requests.get(lms.tool_base + "/lti/register")
    assert no_token.status_code == 403 and "registration link" in no_token.text
    forged = requests.get(lms.tool_base + "/lti/register", params={"gxp_token": "gxpreg_forged",
                                                                     "openid_configuration": "http://x"})
    assert forged.status_code == 403
    created = lms.runner.invoke(args=["lti", "registration-token", "create"])
    assert created.exit_code == 0, created.output
    url = created.output.strip().splitlines()[0]
    token = parse_qs(urlsplit(url).query)["gxp_token"][0]
    # The platform refuses our registration (wrong platform token): nothing is stored, the token stays usable.
    bad = requests.post(lms.tool_base + "/lti/register", data={
        "gxp_token": token, "openid_configuration": lms.platform.base + "/.well-known/openid-configuration",
        "registration_token": "wrong"})
    assert bad.status_code == 502 and "refused the registration" in bad.text
    unreachable = requests.post(lms.tool_base + "/lti/register", data={
        "gxp_token": token, "openid_configuration": "http://127.0.0.1:9/none", "registration_token": "x"})
    assert unreachable.status_code == 502
    with db.read_sessions() as s:
        assert s.scalar(select(LtiPlatform).where(LtiPlatform.registered_by == "dynamic")) is None
        assert s.scalar(select(LtiRegistrationToken)).used_at is None
        refusals = s.scalars(select(AuditEvent).where(AuditEvent.action == "lti.registration_refused")).all()
        assert len(refusals) == 3  # forged token, platform refusal, unreachable platform


def test_platform_cli(runner, db, tmp_path):
    base = ["lti", "platform", "add", "--issuer", "https://moodle.example", "--client-id", "abc",
            "--auth-login-url", "https://moodle.example/mod/lti/auth.php",
            "--auth-token-url", "https://moodle.example/mod/lti/token.php"]
    result = runner.invoke(args=[*base, "--deployment-id", "1", "--deployment-id", "2",
                                 "--keyset-url", "https://moodle.example/mod/lti/certs.php"])
    assert result.exit_code == 0, result.output
    assert "deployments 1, 2" in result.output and "/lti/jwks" in result.output
    duplicate = runner.invoke(args=[*base, "--deployment-id", "1", "--keyset-url", "https://moodle.example/k"])
    assert duplicate.exit_code == 1 and "already registered" in duplicate.output
    both = runner.invoke(args=[*base, "--deployment-id", "1", "--keyset-url", "https://x.example/k",
                               "--public-key-file", __file__])
    assert both.exit_code == 2 and "exactly one" in both.output
    bad_key = tmp_path / "bad.pem"
    bad_key.write_text("not a key")
    result = runner.invoke(args=["lti", "platform", "add", "--issuer", "https://canvas.example",
                                 "--client-id", "1000", "--deployment-id", "d", "--auth-login-url", "https://canvas.example/a",
                                 "--auth-token-url", "https://canvas.example/t",
                                 "--public-key-file", str(bad_key)])
    assert result.exit_code == 1 and "not a PEM public key" in result.output
    bad_url = runner.invoke(args=["lti", "platform", "add", "--issuer", "moodle", "--client-id", "x",
                                  "--deployment-id", "1", "--auth-login-url", "a", "--auth-token-url", "b",
                                  "--keyset-url", "c"])
    assert bad_url.exit_code == 1 and "issuer must be an http(s) URL" in bad_url.output
    edx = ["lti", "platform", "add", "--issuer", "https://edx.example", "--client-id", "e",
           "--deployment-id", "1", "--auth-login-url", "https://edx.example/a", "--auth-token-url", "https://edx.example/t",
           "--keyset-url", "https://edx.example/k"]
    privileged = runner.invoke(args=[*edx, "--role", "Administrator=qa_approver"])
    assert privileged.exit_code == 1 and "never granted by an LMS" in privileged.output
    mapped = runner.invoke(args=[*edx, "--role", "Mentor=trainer"])
    assert mapped.exit_code == 0, mapped.output
    with db.read_sessions() as s:
        role_map = s.scalar(select(LtiPlatform.role_map).where(LtiPlatform.client_id == "e"))
        assert role_map == {"Mentor": "trainer"}
    gone = runner.invoke(args=["lti", "platform", "remove", "2", "--reason", "test done"])
    assert gone.exit_code == 0, gone.output
    listing = runner.invoke(args=["lti", "platform", "list"])
    assert "https://moodle.example\tabc\tdeployments=1,2" in listing.output
    with db.read_sessions() as s:
        platform_id = s.scalar(select(LtiPlatform.id).where(LtiPlatform.client_id == "abc"))
    added = runner.invoke(args=["lti", "platform", "add-deployment", str(platform_id), "3"])
    assert added.exit_code == 0
    no_reason = runner.invoke(args=["lti", "platform", "remove", str(platform_id)])
    assert no_reason.exit_code == 2
    removed = runner.invoke(args=["lti", "platform", "remove", str(platform_id),
                                  "--reason", "moved to Canvas"])
    assert removed.exit_code == 0, removed.output
    assert "no platform registered" in runner.invoke(args=["lti", "platform", "list"]).output
    assert "removed" in runner.invoke(args=["lti", "platform", "list", "--all"]).output
    missing = runner.invoke(args=["lti", "platform", "remove", "999", "--reason", "x"])
    assert missing.exit_code == 1 and "no LMS platform 999" in missing.output
    # Re-adding a removed registration re-activates it.
    again = runner.invoke(args=[*base, "--deployment-id", "1", "--keyset-url", "https://moodle.example/k2"])
    assert again.exit_code == 0, again.output
    with db.read_sessions() as s:
        history = s.scalars(select(AuditEvent).where(AuditEvent.entity_type == "lti_platform")).all()
        assert {"create", "update"} <= {h.action for h in history}


def test_jwks_and_key_rotation(client, runner, db):
    first = client.get("/lti/jwks")
    assert first.status_code == 200
    [key] = first.json["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and "d" not in key
    assert client.get("/lti/jwks").json == first.json  # generated once, stored
    rotated = runner.invoke(args=["lti", "keys", "rotate", "--reason", "annual rotation"])
    assert rotated.exit_code == 0, rotated.output
    keys = client.get("/lti/jwks").json["keys"]
    assert len(keys) == 2 and keys[1]["kid"] == key["kid"]  # the old key stays for in-flight tokens
    listing = runner.invoke(args=["lti", "keys", "list"])
    assert "active" in listing.output and "retired" in listing.output


def test_deep_link_response_is_signed_by_the_current_key(lms, db, make_user):
    from tests.lti.conftest import auto_form, make_sop

    sop = make_sop(db, make_user)
    picker = follow(lms, launch_via_lms(lms, "2", kind="deeplink"))
    empty = requests.post(picker.url, data={})
    assert empty.status_code == 400 and "choose at least one" in empty.text
    answer = requests.post(picker.url, data={"items": [str(sop.item_id)]})
    _action, fields = auto_form(answer)
    header = jwt.get_unverified_header(fields["JWT"])
    jwks = requests.get(lms.tool_base + "/lti/jwks").json()
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}
    body = jwt.decode(fields["JWT"], options={"verify_signature": False})
    assert body["iss"] == lms.platform.client_id and body["aud"] == [lms.platform.issuer]
    assert body["https://purl.imsglobal.org/spec/lti/claim/message_type"] == "LtiDeepLinkingResponse"
    [item] = body["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    assert item["type"] == "ltiResourceLink" and item["url"] == lms.tool_base + "/lti/launch"
    assert item["lineItem"]["resourceId"] == f"gxp-training-item-{sop.item_id}"
