"""Console sessions are server-side: sign-out revokes them at once, they end after the idle and
the absolute timeout (read from the injected clock), and their cookie is Secure over HTTPS."""

from __future__ import annotations

import re

import pytest

from bridge.core.settings import Settings
from tests.conftest import TEST_PASSWORD


def _csrf(client, path="/login", **kwargs) -> str:
    page = client.get(path, **kwargs).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _sign_in(client, username="robin", **kwargs):
    return client.post("/login", data={"csrf_token": _csrf(client, **kwargs), "username": username,
                                       "password": TEST_PASSWORD}, **kwargs)


def _cookie(client) -> str:
    return client.get_cookie("session").value


@pytest.fixture
def make_app(database_url, tmp_path, clock):
    from bridge.app import create_app

    built = []

    def make(**overrides):
        app = create_app(testing=True, database_url=database_url, instance_path=tmp_path / "instance",
                         secret_key="test-secret-key", lockout_threshold=3, clock=clock, **overrides)
        built.append(app)
        return app

    yield make
    for app in built:
        app.extensions["gxpbridge.db"].dispose()


def test_sign_out_revokes_the_session_at_once(app, client, make_user):
    make_user("robin", "qa_approver")
    assert _sign_in(client).status_code == 302
    stolen = _cookie(client)
    assert client.get("/api/v1/me").status_code == 200
    client.post("/logout", data={"csrf_token": _csrf(client, "/console/")})
    assert client.get("/api/v1/me").status_code == 401
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    assert replay.get("/api/v1/me").status_code == 401


def test_idle_timeout_from_the_clock(client, make_user, clock):
    make_user("robin", "qa_approver")
    _sign_in(client)
    for _ in range(3):  # in use: 30 minutes after sign-in, never 15 idle
        clock.advance(minutes=10)
        assert client.get("/api/v1/me").status_code == 200
    clock.advance(minutes=15, seconds=30)
    assert client.get("/api/v1/me").status_code == 401


def test_absolute_timeout_ends_even_a_busy_session(make_app, make_user, clock):
    client = make_app(session_absolute_hours=1, session_idle_minutes=30).test_client()
    make_user("robin", "qa_approver")
    _sign_in(client)
    for _ in range(2):
        clock.advance(minutes=25)
        assert client.get("/api/v1/me").status_code == 200
    clock.advance(minutes=11)
    assert client.get("/api/v1/me").status_code == 401


def test_the_idle_timeout_is_a_setting(monkeypatch):
    monkeypatch.setenv("GXPBRIDGE_SESSION_IDLE_MINUTES", "5")
    assert Settings().session_idle_minutes == 5
    monkeypatch.delenv("GXPBRIDGE_SESSION_IDLE_MINUTES")
    assert Settings().session_idle_minutes == 15


def test_a_cookie_without_a_server_side_session_is_refused(app, make_user):
    from flask.sessions import SecureCookieSessionInterface

    user = make_user("robin", "qa_approver")
    # What a signed cookie used to carry: the user id alone, valid forever.
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    client = app.test_client()
    client.set_cookie("session", serializer.dumps({"user_id": user.user_id}))
    assert client.get("/api/v1/me").status_code == 401


def test_the_cookie_is_secure_over_https_and_behind_a_trusted_proxy(make_app, make_user):
    make_user("robin", "qa_approver")
    plain = make_app().test_client()
    assert "Secure" not in _sign_in(plain).headers["Set-Cookie"]
    direct = make_app().test_client()
    assert "Secure" in _sign_in(direct, base_url="https://gxp.example").headers["Set-Cookie"]
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "gxp.example"}
    untrusted = make_app().test_client()
    response = untrusted.post("/login", headers=forwarded, data={
        "csrf_token": _csrf(untrusted), "username": "robin", "password": TEST_PASSWORD})
    assert "Secure" not in response.headers["Set-Cookie"]
    proxied = make_app(trusted_proxies=1).test_client()
    response = proxied.post("/login", headers=forwarded, data={
        "csrf_token": _csrf(proxied), "username": "robin", "password": TEST_PASSWORD})
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"]
