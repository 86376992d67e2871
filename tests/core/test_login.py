"""Console sign-in: CSRF, lockout, safe redirects, sign-out."""

from __future__ import annotations

import re

from bridge.core import accounts
from tests.conftest import TEST_PASSWORD


def _csrf(client, path="/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_login_and_logout(client, make_user):
    make_user("robin", "qa_approver", name="Robin Approver")
    token = _csrf(client)
    response = client.post("/login", data={"csrf_token": token, "username": "Robin",
                                           "password": TEST_PASSWORD, "next": "/api/v1/me"})
    assert response.status_code == 302 and response.headers["Location"] == "/api/v1/me"
    assert client.get("/api/v1/me").json["username"] == "robin"
    assert client.get("/").headers["Location"] == "/console/"  # signed in: / leads to the console
    assert "Robin Approver" in client.get("/console/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": _csrf(client, "/console/")})
    assert client.get("/api/v1/me").status_code == 401


def test_login_refuses_foreign_redirect_and_missing_csrf(client, make_user):
    make_user("robin", "qa_approver")
    assert client.post("/login", data={"username": "robin", "password": TEST_PASSWORD}).status_code == 400
    response = client.post("/login", data={"csrf_token": _csrf(client), "username": "robin",
                                           "password": TEST_PASSWORD, "next": "//evil.example/"})
    assert response.headers["Location"] == "/"


def test_failed_logins_lock_the_account(client, make_user, db):
    make_user("robin", "qa_approver")
    for _ in range(3):
        response = client.post("/login", data={"csrf_token": _csrf(client), "username": "robin",
                                               "password": "Wrong-Password-9"})
        assert response.status_code == 401
        assert "wrong username or password" in response.get_data(as_text=True)
    response = client.post("/login", data={"csrf_token": _csrf(client), "username": "robin",
                                           "password": TEST_PASSWORD})
    # Locked, yet the sign-in page answers as for a wrong password (no account enumeration).
    assert response.status_code == 401
    assert "wrong username or password" in response.get_data(as_text=True)
    with db.read_sessions() as session:
        assert accounts.get_user(session, "robin").locked_at is not None


def test_unknown_user_gets_the_same_message(client):
    response = client.post("/login", data={"csrf_token": _csrf(client), "username": "nobody",
                                           "password": "Whatever-123"})
    assert response.status_code == 401 and "wrong username or password" in response.get_data(as_text=True)
