"""After sign-in, ``next`` may only name a path of this site (no open redirect, no 500)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import TEST_PASSWORD


def _csrf(client, path="/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


FOREIGN = [
    "//evil.example/", "/\t/evil.example", "/%09/evil.example", "/\n/x", "/%0a/x", "/\r\n/x",
    "/\\evil.example", "\\\\evil.example", "https://evil.example/", "javascript:alert(1)",
    "/ /evil.example", "\t//evil.example", "//", "/\x00/x", "evil.example", "/\u2028/x",
]


@pytest.mark.parametrize("target", FOREIGN)
def test_next_never_leaves_the_site(app, target):
    from urllib.parse import unquote

    from bridge.core.web import safe_next

    with app.test_request_context("/login"):
        assert safe_next(unquote(target)) == "/"


def test_login_query_string_next_with_control_characters(client, make_user):
    make_user("robin", "qa_approver")
    page = client.get("/login?next=/%0a/x")
    assert page.status_code == 200
    for raw in ("/%09/host", "/%0a/x"):
        response = client.post(f"/login?next={raw}", data={"csrf_token": _csrf(client),
                                                            "username": "robin",
                                                            "password": TEST_PASSWORD})
        assert response.status_code == 302 and response.headers["Location"] == "/"


def test_next_keeps_local_paths(app):
    from bridge.core.web import safe_next

    with app.test_request_context("/login"):
        for target in ("/console/", "/api/v1/me?x=1#top", "/", "/lti/admin/"):
            assert safe_next(target) == target


def test_login_follows_a_local_next(client, make_user):
    make_user("robin", "qa_approver")
    response = client.post("/login", data={"csrf_token": _csrf(client), "username": "robin",
                                           "password": TEST_PASSWORD, "next": "/console/"})
    assert response.headers["Location"] == "/console/"
